// sselog.d.ts — TypeScript declarations of sselog.js, the browser client of
// sselog, served beside it at /sselog.d.ts. Copy both next to each other (or
// import the URL with a bundler that understands it) and a TypeScript app
// gets completion and checks:
//
//   import { subscribe, type Subscription } from "./sselog.js";
//
// e2e/types_test.go type-checks an example against this file with tsc.

/** A status reported through onStatus. */
export type Status = "connected" | "reconnecting" | "disconnected";

export declare const CONNECTED: "connected";
export declare const RECONNECTING: "reconnecting";
export declare const DISCONNECTED: "disconnected";

/** Statuses after which the client stops for good: 204, 400, 403. */
export declare const FINAL_STATUSES: readonly number[];
/** 401: a token provider is asked for a new token; a fixed token stops. */
export declare const UNAUTHORIZED: 401;

/** Any JSON value, as an event's data is parsed (raw text if not JSON). */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

/** A subscriber token, or a provider called before the first connect and again on every 401. */
export type TokenSource = string | (() => string | Promise<string>);

/** What the server's gap event says: events were lost, or the resume point was not valid. */
export interface Gap {
  reason: "retention" | "invalid-last-event-id" | "unknown-last-event-id" | (string & {});
  lastEventId: string;
  /** The oldest id still held among the events this subscriber can receive ("" if none). */
  oldestId: string;
  /** Where the stream stands after the gap: the resume point the client takes until its next event. */
  resumeFrom?: string;
}

/** What the server's connected event says. */
export interface ConnectedInfo {
  userId: string;
  timestamp: string;
  lastEventId: string;
  /** Where the stream starts: the resume point a client with none of its own takes. */
  resumeFrom?: string;
}

/** An error reported through onError. */
export interface SselogError extends Error {
  /** The HTTP status that stopped the subscription (403, 204, 400; 401 with a fixed token). */
  status?: number;
  /** Set when the token provider failed (threw, rejected, or returned no string). */
  provider?: boolean;
}

/** A handler of one event: its data (parsed JSON), its id and its name. */
export type EventHandler<T = JSONValue> = (data: T, id: string, name: string) => void;

export interface RetryInfo {
  /** 0 for the first reconnect after a success. */
  attempt: number;
  /** Milliseconds until the new EventSource opens. */
  delay: number;
  /** What the probe answered; 0 when nothing answered. */
  status: number;
}

export interface SubscribeOptions {
  /** The stream URL, e.g. "/v1/users/alice/stream". */
  url: string | URL;
  /** Subscriber token (sent as ?token=), or a provider of one. */
  token?: TokenSource;
  /**
   * An alias of a token provider (sselog.js's earlier option): called on
   * every 401. With `token` a string too, that string serves the first
   * connect; a function `token` wins over it.
   */
  getToken?: () => string | Promise<string>;
  /**
   * Handlers by event name ("message" for unnamed events). EventSource only
   * delivers names it listens for, so list every name; null just listens.
   */
  events?: Record<string, EventHandler | null>;
  /** Every event, named or not, after its own handler. */
  onMessage?: EventHandler;
  onStatus?: (status: Status) => void;
  onGap?: (gap: Gap) => void;
  onConnected?: (info: ConnectedInfo) => void;
  onError?: (err: SselogError) => void;
  onRetry?: (retry: RetryInfo) => void;
  /** Resume point; wins over the stored one. */
  lastEventId?: string;
  /** localStorage key to persist the last id under, so a reload resumes. */
  storageKey?: string;
  /** Bounds of the client's own reconnect backoff (1000, 30000 ms). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** How long to wait for the status probe's answer once the browser gave up (10000 ms); none counts as a failure. */
  probeTimeoutMs?: number;
  /** A source of [0, 1) for jitter (tests). */
  random?: () => number;
}

export interface Subscription {
  close(): void;
  readonly lastEventId: string;
  readonly status: Status | "";
}

/** Opens a stream and keeps it open until close() or a final status. */
export declare function subscribe(options: SubscribeOptions): Subscription;

/** The wait before reconnect attempt `attempt`: full jitter in [0, min(maxMs, baseMs * 2^attempt)). */
export declare function backoffDelay(attempt: number, baseMs: number, maxMs: number, random?: () => number): number;

/** url with token and lastEventId set as query parameters; absolute. */
export declare function buildUrl(url: string | URL, params?: { token?: string; lastEventId?: string }): string;

/** The JSON value of an event's data, or the raw text. */
export declare function parseData(text: string): JSONValue;

/** Whether id comes after last (ULIDs sort as strings). */
export declare function isNewer(id: string, last: string): boolean;

/** The HTTP status url answers (0 when the request failed or no answer came within timeoutMs, 10000). */
export declare function probeStatus(url: string, signal?: AbortSignal, timeoutMs?: number): Promise<number>;

/** probeStatus with the answer's Retry-After in ms (0 if none): a 429 says when to come back. */
export declare function probe(url: string, signal?: AbortSignal, timeoutMs?: number): Promise<{ status: number; retryAfterMs: number }>;

/** A Retry-After value (seconds, or an HTTP date) as a wait in ms, capped at 5 minutes; 0 when absent or bad. */
export declare function retryAfterMs(value: string | null | undefined): number;

/** The part of React that useSselog uses: pass React itself. */
export interface ReactHooks {
  useState<S>(initial: S | (() => S)): [S, (next: S | ((prev: S) => S)) => void];
  useEffect(effect: () => void | (() => void), deps?: readonly unknown[]): void;
  useRef<T>(initial: T): { current: T };
}

/** One event kept by useSselog. */
export interface SselogEvent<T = JSONValue> {
  id: string;
  event: string;
  data: T;
}

export interface UseSselogOptions extends Omit<SubscribeOptions, "onMessage"> {
  /** How many events to keep, newest first (50). */
  max?: number;
  onMessage?: EventHandler;
}

export interface UseSselogResult<T = JSONValue> {
  status: Status;
  /** Newest first, at most `max`. */
  events: SselogEvent<T>[];
  lastEventId: string;
}

/**
 * A React hook over subscribe. The stream is rebuilt only when url or a
 * token string change; a token provider may be a new function on every
 * render (the newest one is called).
 */
export declare function useSselog<T = JSONValue>(React: ReactHooks, options: UseSselogOptions): UseSselogResult<T>;
