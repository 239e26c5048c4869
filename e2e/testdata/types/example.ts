// Type-checked by e2e/types_test.go with tsc --strict against sselog.d.ts
// (copied beside it as the test runs). Lines marked @ts-expect-error must
// fail to type-check: they keep the declarations from being too loose.
import * as React from "./react-stub.js";
import {
  subscribe,
  useSselog,
  backoffDelay,
  buildUrl,
  retryAfterMs,
  FINAL_STATUSES,
  type Gap,
  type SselogError,
  type Status,
  type Subscription,
} from "./sselog.js";

interface Note {
  title: string;
  body?: string;
}

async function fetchToken(): Promise<string> {
  const res = await fetch("/api/sselog-token");
  return res.text();
}

const sub: Subscription = subscribe({
  url: "/v1/users/alice/stream",
  token: fetchToken,
  storageKey: "sselog:alice",
  events: {
    notification: (data, id, name) => console.log(data, id.length, name.toUpperCase()),
    other: null,
  },
  onStatus: (s: Status) => console.log(s === "connected"),
  onGap: (g: Gap) => console.log(g.reason, g.oldestId),
  onError: (e: SselogError) => console.log(e.status ?? 0, e.provider === true),
  onRetry: ({ attempt, delay, status }) => console.log(attempt + delay + status),
  backoff: { baseMs: 500 },
});

// getToken: the provider's alias; a token string serves the first connect.
subscribe({ url: "/v1/users/alice/stream", token: "t0", getToken: fetchToken });
console.log(retryAfterMs("5") + retryAfterMs(null));
// @ts-expect-error a provider returns a token, not a number
subscribe({ url: "/v1/users/alice/stream", getToken: async () => 42 });
const last: string = sub.lastEventId;
sub.close();
subscribe({ url: new URL("https://sselog.example.com/v1/users/bob/stream"), token: "a.b.c" });
subscribe({ url: "/s", token: () => "sync-token" });
const d: number = backoffDelay(3, 1000, 30000);
const u: string = buildUrl("/s", { lastEventId: last });
const final: boolean = FINAL_STATUSES.includes(403);

export function LiveNotifications({ userId }: { userId: string }) {
  const { status, events, lastEventId } = useSselog<Note>(React, {
    url: `/v1/users/${encodeURIComponent(userId)}/stream`,
    token: async () => fetchToken(),
    events: { notification: null },
    max: 20,
  });
  const titles: string[] = events.map((e) => e.data.title);
  return { status, titles, lastEventId, d, u, final };
}

// @ts-expect-error a token is a string or a provider of one
subscribe({ url: "/s", token: 42 });
// @ts-expect-error url is required
subscribe({ token: "t" });
// @ts-expect-error statuses are a closed set
const bad: Status = "open";
// @ts-expect-error a provider returns a string
subscribe({ url: "/s", token: async () => 7 });
// @ts-expect-error close takes no argument
sub.close(true);
export { bad };
