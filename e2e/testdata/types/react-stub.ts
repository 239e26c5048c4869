// The three hooks useSselog needs, typed as React's own are, so the
// example type-checks without @types/react.
export declare function useState<S>(initial: S | (() => S)): [S, (next: S | ((prev: S) => S)) => void];
export declare function useEffect(effect: () => void | (() => void), deps?: readonly unknown[]): void;
export declare function useRef<T>(initial: T): { current: T };
