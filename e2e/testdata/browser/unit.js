// In-browser unit tests of sselog.js, run by browser_unit_test.go in headless
// Chromium against the real EventSource and fetch. The Go side serves
// /sselog.js from api/web, and /sse, a stream whose answers each test scripts
// (see scriptedSSE), and /log, what each request to /sse carried.
import * as sse from "/sselog.js";

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

// id returns a ULID-shaped id; ids sort as their numbers.
const id = (n) => "01J" + String(n).padStart(23, "0");
let keys = 0;
const newKey = () => `k${Date.now()}-${++keys}`;
const sseUrl = (key, plan) =>
  `/sse?key=${encodeURIComponent(key)}&plan=${encodeURIComponent(JSON.stringify(plan))}`;
const requests = async (key) => (await fetch(`/log?key=${encodeURIComponent(key)}`)).json();
const openStreams = async (key) => (await fetch(`/open?key=${encodeURIComponent(key)}`)).json();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function eq(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}
function ok(cond, what) {
  if (!cond) throw new Error(what);
}
async function waitFor(pred, what, ms = 5000) {
  const end = performance.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

// recorder returns subscribe options that record every callback, and what
// they recorded.
function recorder(extra = {}) {
  const got = { messages: [], statuses: [], gaps: [], errors: [], retries: [], connected: [] };
  const opts = {
    onMessage: (data, eid, name) => got.messages.push({ data, id: eid, name }),
    onStatus: (s) => got.statuses.push(s),
    onGap: (g) => got.gaps.push(g),
    onError: (e) => got.errors.push({ message: String(e.message), status: e.status }),
    onRetry: (r) => got.retries.push(r),
    onConnected: (c) => got.connected.push(c),
    ...extra,
  };
  return { got, opts };
}

// open subscribes and registers the subscription for closing after the test,
// so no held-open stream eats one of the six connections per origin.
let open = [];
function track(sub) {
  open.push(sub);
  return sub;
}

const ev = (n, data = `{"n":${n}}`, event = "") => ({ id: id(n), event, data });

test("backoffDelay: full jitter within [0, min(max, base*2^n))", () => {
  const base = 100;
  const max = 5000;
  const caps = [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000];
  caps.forEach((cap, n) => {
    eq(sse.backoffDelay(n, base, max, () => 0), 0, `attempt ${n}, random 0`);
    const top = sse.backoffDelay(n, base, max, () => 1 - 1e-9);
    ok(top === cap - 1, `attempt ${n}: top of range ${top}, want ${cap - 1}`);
    eq(sse.backoffDelay(n, base, max, () => 0.5), cap / 2, `attempt ${n}, random 0.5`);
    for (let i = 0; i < 200; i++) {
      const d = sse.backoffDelay(n, base, max);
      ok(Number.isInteger(d) && d >= 0 && d < cap, `attempt ${n}: ${d} outside [0, ${cap})`);
    }
  });
});

test("backoffDelay: cap holds for huge attempts, bad input is attempt 0", () => {
  eq(sse.backoffDelay(1e6, 100, 5000, () => 0.5), 2500, "attempt 1e6");
  eq(sse.backoffDelay(Infinity, 100, 5000, () => 0.5), 50, "attempt Infinity is not a count");
  eq(sse.backoffDelay(-3, 100, 5000, () => 0.5), 50, "negative attempt");
  eq(sse.backoffDelay(NaN, 100, 5000, () => 0.5), 50, "NaN attempt");
  eq(sse.backoffDelay(1e6, 0, 5000, () => 0.5), 0, "base 0");
  eq(sse.backoffDelay(3, 100, 5000, () => 1), 0, "random out of range");
  eq(sse.backoffDelay(3, 100, 5000, () => NaN), 0, "random NaN");
});

test("buildUrl: sets token and lastEventId, keeps the rest", () => {
  const origin = location.origin;
  eq(sse.buildUrl("/v1/users/a/stream"), `${origin}/v1/users/a/stream`, "relative, nothing to add");
  eq(
    sse.buildUrl("/v1/users/a/stream", { token: "t.k-1", lastEventId: id(7) }),
    `${origin}/v1/users/a/stream?token=t.k-1&lastEventId=${id(7)}`,
    "both set",
  );
  eq(
    sse.buildUrl("http://h.example:9/s?x=1&lastEventId=OLD#f", { lastEventId: id(2) }),
    `http://h.example:9/s?x=1&lastEventId=${id(2)}#f`,
    "replaces an old resume point, keeps other params and the hash",
  );
  eq(sse.buildUrl("/s?lastEventId=KEEP", { token: "", lastEventId: "" }), `${origin}/s?lastEventId=KEEP`, "empty values change nothing");
  eq(sse.buildUrl("/s", { token: "a b&c=d" }), `${origin}/s?token=a+b%26c%3Dd`, "escaped");
});

test("isNewer and parseData", () => {
  ok(sse.isNewer(id(2), id(1)), "2 after 1");
  ok(!sse.isNewer(id(1), id(1)), "an equal id is a repeat");
  ok(!sse.isNewer(id(1), id(2)), "an older id is a repeat");
  ok(sse.isNewer(id(1), ""), "anything is new with no cursor");
  ok(sse.isNewer(id(1), "00000000000000000000000000"), "the zero id is before all");
  eq(sse.parseData('{"a":[1,2]}'), { a: [1, 2] }, "JSON");
  eq(sse.parseData("plain text"), "plain text", "raw text");
});

test("dedupe: repeats and older ids are dropped, order kept, raw text passed", async () => {
  const key = newKey();
  const plan = [{ events: [ev(1), ev(2), ev(2), ev(1), ev(3, "not json"), ev(4)] }];
  const { got, opts } = recorder();
  const sub = track(sse.subscribe({ url: sseUrl(key, plan), ...opts }));
  await waitFor(() => got.messages.length >= 4, "4 messages");
  await sleep(50); // a late repeat would show up now
  eq(got.messages.map((m) => m.id), [id(1), id(2), id(3), id(4)], "ids");
  eq(got.messages[0].data, { n: 1 }, "parsed JSON");
  eq(got.messages[2].data, "not json", "raw text");
  eq(sub.lastEventId, id(4), "lastEventId");
  eq(got.statuses, ["reconnecting", "connected"], "statuses");
  sub.close();
  eq(got.statuses, ["reconnecting", "connected", "disconnected"], "statuses after close()");
  await waitFor(async () => (await openStreams(key)) === 0, "close() to end the stream");
});

test("named events reach their handler with data and id; onMessage sees all", async () => {
  const key = newKey();
  const plan = [{ events: [ev(1, '{"title":"hi"}', "notification"), ev(2, '"x"', "other"), ev(3)] }];
  const named = [];
  const unnamed = [];
  const { got, opts } = recorder({
    events: {
      notification: (data, eid, name) => named.push({ data, id: eid, name }),
      other: null,
      message: (data, eid) => unnamed.push(eid),
    },
  });
  track(sse.subscribe({ url: sseUrl(key, plan), ...opts }));
  await waitFor(() => got.messages.length >= 3, "3 messages");
  eq(named, [{ data: { title: "hi" }, id: id(1), name: "notification" }], "named handler");
  eq(unnamed, [id(3)], "message handler");
  eq(got.messages.map((m) => [m.id, m.name]), [[id(1), "notification"], [id(2), "other"], [id(3), "message"]], "onMessage");
});

test("after the browser gives up, a new EventSource resumes with ?lastEventId=", async () => {
  const key = newKey();
  const plan = [
    { retry: 20, events: [ev(1), ev(2)], close: true }, // stream ends: the browser reconnects
    { status: 503 }, // the browser's reconnect: it gives up (CLOSED)
    { status: 503 }, // sselog.js's probe
    { events: [ev(2), ev(3)] }, // sselog.js's own EventSource; 2 is replayed twice
  ];
  const { got, opts } = recorder({ backoff: { baseMs: 10, maxMs: 50 } });
  const sub = track(sse.subscribe({ url: sseUrl(key, plan), ...opts }));
  await waitFor(() => got.messages.length >= 3, "3 messages");
  const seen = await requests(key);
  eq(got.messages.map((m) => m.id), [id(1), id(2), id(3)], "ids");
  eq([seen[1].header, seen[1].query], [id(2), ""], "browser reconnect: Last-Event-ID, original URL");
  eq(seen[2].query, id(2), "the probe carries the resume point");
  eq([seen[3].header, seen[3].query], ["", id(2)], "new EventSource: ?lastEventId=");
  eq(got.statuses, ["reconnecting", "connected", "reconnecting", "connected"], "statuses");
  eq(got.retries.map((r) => [r.attempt, r.status]), [[0, 503]], "one retry after a 503");
  eq(sub.status, "connected", "status getter");
});

test("a probe that gets no answer gives up after probeTimeoutMs and the client retries", async () => {
  const key = newKey();
  const plan = [
    { retry: 20, events: [ev(1)], close: true },
    { status: 503 }, // the browser's reconnect: it gives up (CLOSED)
    { silent: true }, // the probe: a proxy that takes it and never answers
    { events: [ev(2)] }, // sselog.js's own EventSource
  ];
  const { got, opts } = recorder({ backoff: { baseMs: 10, maxMs: 50 }, probeTimeoutMs: 300 });
  track(sse.subscribe({ url: sseUrl(key, plan), ...opts }));
  await waitFor(() => got.messages.length >= 2, "event 2, after the silent probe", 5000);
  eq(got.messages.map((m) => m.id), [id(1), id(2)], "ids");
  eq(got.retries.map((r) => r.status), [0], "the unanswered probe counts as no answer");
});

test("backoff grows per failed attempt and resets after a successful open", async () => {
  const key = newKey();
  const plan = [
    { retry: 20, events: [ev(1)], close: true },
    { status: 503 }, { status: 503 }, // browser gives up; probe
    { status: 503 }, { status: 503 }, // our EventSource fails; probe
    { retry: 20, events: [ev(2)], close: true }, // opens: the attempt count resets
    { status: 503 }, { status: 503 },
    { events: [ev(3)] },
  ];
  const random = () => 0.5;
  const { got, opts } = recorder({ backoff: { baseMs: 10, maxMs: 1000 }, random });
  track(sse.subscribe({ url: sseUrl(key, plan), ...opts }));
  await waitFor(() => got.messages.length >= 3, "3 messages");
  eq(got.retries.map((r) => r.attempt), [0, 1, 0], "attempts");
  eq(got.retries.map((r) => r.delay), [0, 1, 0].map((a) => sse.backoffDelay(a, 10, 1000, random)), "delays");
  const seen = await requests(key);
  eq([seen[5].query, seen[8].query], [id(1), id(2)], "each new EventSource resumes after the last id");
});

for (const code of [401, 403, 204, 400]) {
  test(`stops for good on ${code}`, async () => {
    const key = newKey();
    const { got, opts } = recorder({ backoff: { baseMs: 5, maxMs: 10 } });
    const sub = track(sse.subscribe({ url: sseUrl(key, [{ status: code }]), ...opts }));
    await waitFor(() => got.errors.length > 0, "an error");
    eq(got.errors.map((e) => e.status), [code], "error status");
    eq(got.statuses, ["reconnecting", "disconnected"], "statuses");
    eq(sub.status, "disconnected", "status getter");
    await sleep(200); // at 5-10 ms per retry, a retry loop would show by now
    eq((await requests(key)).length, 2, "requests: the EventSource and one probe");
    eq(got.retries.length, 0, "retries");
  });
}

test("a 503 is retried with backoff until close()", async () => {
  const key = newKey();
  const { got, opts } = recorder({ backoff: { baseMs: 5, maxMs: 20 } });
  const sub = track(sse.subscribe({ url: sseUrl(key, [{ status: 503 }]), ...opts }));
  await waitFor(async () => (await requests(key)).length >= 8, "8 requests");
  eq(got.errors, [], "no error: 503 is not final");
  eq(got.statuses, ["reconnecting"], "statuses");
  sub.close();
  eq(got.statuses, ["reconnecting", "disconnected"], "closed");
  const n = (await requests(key)).length;
  await sleep(100);
  eq((await requests(key)).length, n, "no request after close()");
});

test("an expired token: getToken, an alias of a token provider, is asked on the 401", async () => {
  const key = newKey();
  const plan = [
    { retry: 20, events: [ev(1)], close: true }, // the server ends the stream: the token expired
    { status: 401 }, // the browser's reconnect still carries the old token
    { status: 401 }, // sselog.js's probe: 401, so ask the provider
    { events: [ev(2)] }, // sselog.js's own EventSource, with the fresh token
  ];
  let asked = 0;
  const getToken = async () => `fresh${++asked}`;
  const { got, opts } = recorder({ backoff: { baseMs: 5, maxMs: 20 } });
  track(sse.subscribe({ url: sseUrl(key, plan), token: "old", getToken, ...opts }));
  await waitFor(() => got.messages.length >= 2, "2 messages");
  const seen = await requests(key);
  eq(seen.slice(0, 4).map((r) => r.token), ["old", "old", "old", "fresh1"], "tokens: the string first, getToken after the 401");
  eq(seen[3].query, id(1), "resumes exactly after the last id");
  eq(asked, 1, "getToken calls");
  eq(got.errors, [], "a 401 with getToken is not final");
});

test("a 429 waits at least its Retry-After, then reconnects", async () => {
  const key = newKey();
  const { got, opts } = recorder({ backoff: { baseMs: 5, maxMs: 20 } });
  const plan = [{ status: 429, retryAfter: "1" }, { status: 429, retryAfter: "1" }, { events: [{ id: id(1), data: "1" }] }];
  track(sse.subscribe({ url: sseUrl(key, plan), ...opts }));
  await waitFor(() => got.retries.length >= 1, "a retry");
  eq(got.retries[0].status, 429, "retry status");
  ok(got.retries[0].delay >= 1000, `delay ${got.retries[0].delay} ms honours Retry-After: 1`);
  ok(got.retries[0].delay < 1000 + 20, `delay ${got.retries[0].delay} ms adds at most the jitter`);
  eq(sse.retryAfterMs("7"), 7000, "seconds");
  eq(sse.retryAfterMs(""), 0, "absent");
  eq(sse.retryAfterMs("soon"), 0, "junk");
  eq(sse.retryAfterMs("99999"), 300000, "capped at 5 minutes");
  ok(sse.retryAfterMs(new Date(Date.now() + 3000).toUTCString()) > 1000, "an HTTP date");
});

test("storageKey persists the last id; a new subscribe resumes from it", async () => {
  const key = newKey();
  const storageKey = `test:${key}`;
  const plan = [{ events: [ev(1), ev(2)] }, { events: [ev(2), ev(3)] }, { events: [] }];
  const a = recorder({ storageKey });
  const sub = track(sse.subscribe({ url: sseUrl(key, plan), ...a.opts }));
  await waitFor(() => a.got.messages.length >= 2, "2 messages");
  eq(localStorage.getItem(storageKey), id(2), "stored");
  sub.close();

  const b = recorder({ storageKey });
  const sub2 = track(sse.subscribe({ url: sseUrl(key, plan), ...b.opts }));
  await waitFor(() => b.got.messages.length >= 1, "1 message");
  await sleep(30);
  eq(b.got.messages.map((m) => m.id), [id(3)], "only the new event");
  eq(localStorage.getItem(storageKey), id(3), "stored");
  sub2.close();

  track(sse.subscribe({ url: sseUrl(key, plan), storageKey, lastEventId: id(1) }));
  await waitFor(async () => (await requests(key)).length >= 3, "third request");
  const seen = await requests(key);
  eq(seen.map((r) => r.query), ["", id(2), id(1)], "resume points: none, stored, explicit wins");
  localStorage.removeItem(storageKey);
});

test("close() then subscribe({lastEventId: sub.lastEventId}) resumes exactly", async () => {
  const key = newKey();
  const plan = [{ events: [ev(1), ev(2)] }, { events: [ev(3)] }];
  const a = recorder();
  const sub = track(sse.subscribe({ url: sseUrl(key, plan), ...a.opts }));
  await waitFor(() => a.got.messages.length >= 2, "2 messages");
  sub.close();
  const b = recorder();
  track(sse.subscribe({ url: sseUrl(key, plan), lastEventId: sub.lastEventId, ...b.opts }));
  await waitFor(() => b.got.messages.length >= 1, "1 message");
  eq((await requests(key))[1].query, id(2), "resume point");
  eq(b.got.messages.map((m) => m.id), [id(3)], "ids");
});

// A stream opened with no id of its own (or with one the server could not
// use) that drops before its first event: the browser's own reconnect would
// carry no id, or the bad one, and land on the live tail, losing what was
// published meanwhile. sselog.js takes the connected or gap event's
// resumeFrom and reconnects from it itself.
for (const [name, start, serverEvents] of [
  ["connected", "", [{ event: "connected", data: JSON.stringify({ userId: "u", lastEventId: "", resumeFrom: id(5) }) }]],
  ["gap", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", [
    { event: "connected", data: JSON.stringify({ userId: "u", lastEventId: "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", resumeFrom: id(4) }) },
    { event: "gap", data: JSON.stringify({ reason: "invalid-last-event-id", lastEventId: "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", oldestId: "", resumeFrom: id(5) }) },
  ]],
]) {
  test(`a reconnect before the first event resumes from the ${name} event's resumeFrom`, async () => {
    const key = newKey();
    const plan = [{ retry: 20, events: serverEvents, close: true }, { events: [ev(6)] }];
    const { got, opts } = recorder({ backoff: { baseMs: 10, maxMs: 50 }, storageKey: `test:${key}` });
    const sub = track(sse.subscribe({ url: sseUrl(key, plan), lastEventId: start, ...opts }));
    await waitFor(() => got.messages.length >= 1, "the event after the reconnect");
    const seen = await requests(key);
    eq(seen.length, 2, "two requests");
    eq(seen[1].query, id(5), "the reconnect resumes from resumeFrom");
    eq(got.messages.map((m) => m.id), [id(6)], "ids");
    eq(sub.lastEventId, id(6), "cursor");
    localStorage.removeItem(`test:${key}`);
  });
}

test("a gap is reported and resets the cursor", async () => {
  const key = newKey();
  const bogus = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"; // above every real id
  const gap = { reason: "invalid-last-event-id", lastEventId: bogus, oldestId: "" };
  const plan = [{ events: [
    { event: "connected", data: '{"userId":"u","lastEventId":""}' },
    { event: "gap", data: JSON.stringify(gap) },
    ev(1),
  ] }];
  const { got, opts } = recorder({ storageKey: `test:${key}` });
  const sub = track(sse.subscribe({ url: sseUrl(key, plan), lastEventId: bogus, ...opts }));
  await waitFor(() => got.messages.length >= 1, "1 message");
  eq(got.gaps, [gap], "onGap");
  eq(got.connected.map((c) => c.userId), ["u"], "onConnected");
  eq(sub.lastEventId, id(1), "cursor");
  eq(localStorage.getItem(`test:${key}`), id(1), "stored cursor");
  localStorage.removeItem(`test:${key}`);
});

test("the token travels as ?token= on every EventSource and probe", async () => {
  const key = newKey();
  const plan = [{ retry: 20, events: [ev(1)], close: true }, { status: 503 }, { status: 503 }, { events: [] }];
  const { got, opts } = recorder({ token: "tok.en-1", backoff: { baseMs: 5, maxMs: 10 } });
  track(sse.subscribe({ url: sseUrl(key, plan), ...opts }));
  await waitFor(async () => (await requests(key)).length >= 4, "4 requests");
  await waitFor(() => got.statuses.length >= 4, "connected again");
  eq((await requests(key)).map((r) => r.token), ["tok.en-1", "tok.en-1", "tok.en-1", "tok.en-1"], "tokens");
});

test("token provider: a 401 calls it again and resumes with the new token", async () => {
  const key = newKey();
  const plan = [
    { retry: 20, events: [ev(1)], close: true }, // stream ends: the browser reconnects
    { status: 401 }, // the browser's reconnect with the expired token: CLOSED
    { status: 401 }, // sselog.js's probe: 401, so ask the provider
    { events: [ev(1), ev(2)] }, // the new EventSource, with the new token
  ];
  const issued = ["t-one", "t-two"];
  let calls = 0;
  const { got, opts } = recorder({
    token: async () => issued[Math.min(calls++, issued.length - 1)],
    backoff: { baseMs: 5, maxMs: 10 },
  });
  const sub = track(sse.subscribe({ url: sseUrl(key, plan), ...opts }));
  await waitFor(() => got.messages.length >= 2, "2 messages");
  const seen = await requests(key);
  eq(seen.map((r) => r.token), ["t-one", "t-one", "t-one", "t-two"], "tokens");
  eq(seen[3].query, id(1), "the new EventSource resumes after the last id");
  eq(got.messages.map((m) => m.id), [id(1), id(2)], "each event once");
  eq(calls, 2, "provider calls: at start and after the 401");
  eq(got.errors, [], "no error");
  eq(sub.status, "connected", "status");
});

test("token provider: 403 still stops for good; the provider is not asked again", async () => {
  const key = newKey();
  let calls = 0;
  const { got, opts } = recorder({ token: () => `t${++calls}`, backoff: { baseMs: 5, maxMs: 10 } });
  track(sse.subscribe({ url: sseUrl(key, [{ status: 403 }]), ...opts }));
  await waitFor(() => got.errors.length > 0, "an error");
  eq(got.errors.map((e) => e.status), [403], "error status");
  await sleep(100);
  eq(calls, 1, "provider calls");
  eq((await requests(key)).length, 2, "requests: the EventSource and one probe");
  eq(got.statuses, ["reconnecting", "disconnected"], "statuses");
});

test("token provider: a failing provider stops the subscription", async () => {
  // At start: nothing is opened.
  let key = newKey();
  let a = recorder({ token: async () => { throw new Error("session ended"); } });
  track(sse.subscribe({ url: sseUrl(key, [{ events: [ev(1)] }]), ...a.opts }));
  await waitFor(() => a.got.errors.length > 0, "an error");
  eq(a.got.errors.map((e) => e.message), ["session ended"], "the provider's error");
  eq(a.got.statuses, ["reconnecting", "disconnected"], "statuses");
  eq((await requests(key)).length, 0, "no request without a token");

  // After a 401: a provider that then returns no token.
  key = newKey();
  let calls = 0;
  a = recorder({ token: () => (calls++ === 0 ? "t1" : undefined), backoff: { baseMs: 5, maxMs: 10 } });
  const plan = [{ retry: 20, events: [ev(1)], close: true }, { status: 401 }];
  const sub = track(sse.subscribe({ url: sseUrl(key, plan), ...a.opts }));
  await waitFor(() => a.got.errors.length > 0, "an error");
  ok(/not a token/.test(a.got.errors[0].message), `error: ${a.got.errors[0].message}`);
  eq(sub.status, "disconnected", "status");
  eq(sub.lastEventId, id(1), "cursor kept");
  await sleep(100);
  eq((await requests(key)).length, 3, "requests: stream, browser reconnect, probe");
});

test("useSselog: a token provider is called again on 401; a new inline provider does not rebuild", async () => {
  const { React, ReactDOM } = window;
  const key = newKey();
  const note = (n) => ev(n, `{"t":${n}}`, "notification");
  const plan = [
    // The browser waits 1 s before it reconnects: time to render a new provider.
    { retry: 1000, events: [note(1)], close: true },
    { status: 401 }, { status: 401 },
    { events: [note(2)] },
  ];
  const url = sseUrl(key, plan);
  const h = React.createElement;
  const calls = [];
  function App({ gen }) {
    const { events } = sse.useSselog(React, {
      url,
      token: async () => { calls.push(gen); return `tok-${gen}-${calls.length}`; },
      events: { notification: null },
      backoff: { baseMs: 5, maxMs: 10 },
    });
    return h("ul", null, events.map((e) => h("li", { key: e.id, "data-id": e.id }, String(e.data.t))));
  }
  const el = document.createElement("div");
  document.body.append(el);
  const root = ReactDOM.createRoot(el);
  const shown = () => Array.from(el.querySelectorAll("li"), (li) => li.dataset.id);
  try {
    root.render(h(App, { gen: 1 }));
    await waitFor(() => shown().length >= 1, "event 1 rendered");
    root.render(h(App, { gen: 2 })); // a new provider function: no rebuild
    await waitFor(() => shown()[0] === id(2), "event 2 rendered");
    eq(shown(), [id(2), id(1)], "each event once");
    eq(calls, [1, 2], "the first provider at start, the newest after the 401");
    const seen = await requests(key);
    eq(seen.map((r) => r.token), ["tok-1-1", "tok-1-1", "tok-1-1", "tok-2-2"], "tokens");
    eq(seen[3].query, id(1), "resumed after the last id");
  } finally {
    root.unmount();
    el.remove();
  }
});

test("a throwing handler does not stall the stream", async () => {
  const key = newKey();
  const plan = [{ events: [ev(1), ev(2)] }];
  const seen = [];
  const { got, opts } = recorder({
    onMessage: (data, eid) => {
      seen.push(eid);
      if (eid === id(1)) throw new Error("boom");
    },
  });
  const sub = track(sse.subscribe({ url: sseUrl(key, plan), ...opts }));
  await waitFor(() => seen.length >= 2, "2 messages");
  eq(got.errors.map((e) => e.message), ["boom"], "reported");
  eq(sub.lastEventId, id(2), "cursor moved on");
});

test("useSselog: real React hooks; newest first, capped; a new token resumes; unmount closes", async () => {
  const { React, ReactDOM } = window;
  ok(React && ReactDOM, "React loaded");
  const key = newKey();
  const note = (n) => ev(n, `{"t":${n}}`, "notification");
  const plan = [
    { retry: 20, events: [note(1), note(2), note(3)], close: true },
    { events: [note(3), note(4)] }, // the browser's reconnect, with a repeat
    { events: [note(5)] }, // the stream rebuilt for a new token
  ];
  const url = sseUrl(key, plan);
  const h = React.createElement;
  function App({ token }) {
    const { status, events, lastEventId } = sse.useSselog(React, {
      url, token, max: 3, events: { notification: null }, onStatus: () => {},
    });
    return h("div", null,
      h("p", { className: "status" }, status),
      h("p", { className: "last" }, lastEventId),
      h("ul", null, events.map((e) => h("li", { key: e.id, "data-id": e.id }, String(e.data.t)))));
  }
  const el = document.createElement("div");
  document.body.append(el);
  const root = ReactDOM.createRoot(el);
  const shown = () => Array.from(el.querySelectorAll("li"), (li) => li.dataset.id);
  try {
    root.render(h(App, { token: "t1" }));
    await waitFor(() => shown()[0] === id(4), "event 4 rendered");
    eq(shown(), [id(4), id(3), id(2)], "newest first, at most 3");
    eq(el.querySelector(".status").textContent, "connected", "status");
    eq(el.querySelector(".last").textContent, id(4), "lastEventId");

    root.render(h(App, { token: "t2" }));
    await waitFor(() => shown()[0] === id(5), "event 5 rendered");
    eq(shown(), [id(5), id(4), id(3)], "after the new token");
    root.render(h(App, { token: "t2" })); // new callbacks, same url and token
    await sleep(50);
    const seen = await requests(key);
    eq(seen.map((r) => [r.token, r.query]), [["t1", ""], ["t1", ""], ["t2", id(4)]], "requests: a rebuild only for the token");
    eq(seen[1].header, id(3), "the browser's reconnect sent Last-Event-ID");
  } finally {
    root.unmount();
    el.remove();
  }
  await waitFor(async () => (await openStreams(key)) === 0, "unmount to end the stream");
});

test("a lowercase resume point: ULIDs are case-insensitive, the events after it are delivered", async () => {
  // The server parses ids case-insensitively (ulid.ParseStrict) and replays
  // after it; the cursor must compare like the server's ids.
  const key = newKey();
  const plan = [{ events: [ev(2), ev(3)] }];
  const { got, opts } = recorder();
  const sub = track(sse.subscribe({ url: sseUrl(key, plan), lastEventId: id(1).toLowerCase(), ...opts }));
  await waitFor(async () => (await requests(key)).length >= 1, "the stream");
  await sleep(200);
  eq(got.messages.map((m) => m.id), [id(2), id(3)], "ids");
  eq(sub.lastEventId, id(3), "cursor");
});

// mountHook renders App(props) in a fresh root; it returns render(props),
// shown() (the data-id of every rendered li) and unmount().
function mountHook(App) {
  const { React, ReactDOM } = window;
  const el = document.createElement("div");
  document.body.append(el);
  const root = ReactDOM.createRoot(el);
  return {
    render: (props) => root.render(React.createElement(App, props)),
    shown: () => Array.from(el.querySelectorAll("li"), (li) => li.dataset.id),
    unmount: () => { root.unmount(); el.remove(); },
  };
}
const list = (events) =>
  window.React.createElement("ul", null, events.map((e) => window.React.createElement("li", { key: e.id, "data-id": e.id })));

test("useSselog: a new url resumes from its own stored id, not from the old stream's cursor", async () => {
  const { React } = window;
  const keyA = newKey();
  const keyB = newKey();
  const streams = {
    a: { url: sseUrl(keyA, [{ events: [ev(10)] }]), storageKey: `test:${keyA}` },
    b: { url: sseUrl(keyB, [{ events: [ev(4), ev(5)] }]), storageKey: `test:${keyB}` },
  };
  localStorage.setItem(streams.b.storageKey, id(3)); // b was read up to 3 before
  function App({ user }) {
    const { events } = sse.useSselog(React, { ...streams[user], events: { message: null } });
    return list(events);
  }
  const m = mountHook(App);
  try {
    m.render({ user: "a" });
    await waitFor(() => m.shown().includes(id(10)), "a's event 10");
    m.render({ user: "b" }); // the same component, another user
    await waitFor(async () => (await requests(keyB)).length >= 1, "b's stream");
    eq((await requests(keyB))[0].query, id(3), "b resumes from b's stored id");
    await waitFor(() => m.shown().includes(id(5)), "b's events 4 and 5", 1000);
    ok(m.shown().includes(id(4)), `b's event 4 shown: ${m.shown()}`);
    eq(m.shown().includes(id(10)), false, "a's event 10 is not in b's list");
  } finally {
    m.unmount();
    localStorage.removeItem(streams.a.storageKey);
    localStorage.removeItem(streams.b.storageKey);
  }
});

test("useSselog: a rebuild before the first event resumes from the connected event's resumeFrom", async () => {
  const { React } = window;
  const key = newKey();
  const connected = { event: "connected", data: JSON.stringify({ userId: "u", lastEventId: "", resumeFrom: id(5) }) };
  const plan = [{ events: [connected] }, { events: [ev(6)] }];
  const url = sseUrl(key, plan);
  const infos = [];
  function App({ token }) {
    const { events } = sse.useSselog(React, { url, token, events: { message: null }, onConnected: (i) => infos.push(i) });
    return list(events);
  }
  const m = mountHook(App);
  try {
    m.render({ token: "t1" });
    await waitFor(() => infos.length >= 1, "the connected event");
    m.render({ token: "t2" }); // a new token string: the stream is rebuilt
    await waitFor(async () => (await requests(key)).length >= 2, "the rebuilt stream");
    eq((await requests(key)).map((r) => [r.token, r.query]), [["t1", ""], ["t2", id(5)]], "the rebuild resumes from resumeFrom");
  } finally {
    m.unmount();
  }
});

test("useSselog: a URL object made at each render does not rebuild the stream", async () => {
  const { React } = window;
  const key = newKey();
  const path = sseUrl(key, [{ events: [ev(1)] }]);
  function App() {
    const { events, status } = sse.useSselog(React, { url: new URL(path, location.href), events: { message: null } });
    return React.createElement("div", { "data-status": status }, list(events));
  }
  const m = mountHook(App);
  try {
    m.render({});
    await waitFor(() => m.shown().includes(id(1)), "event 1");
    await sleep(300); // a rebuild per render would show by now
    eq((await requests(key)).length, 1, "requests: one stream");
  } finally {
    m.unmount();
  }
  await waitFor(async () => (await openStreams(key)) === 0, "unmount to end the stream");
});

// run runs the tests one at a time (they share the browser's six
// connections per origin), publishing progress in window.__progress so a
// hang can be named, and the results in window.__results at the end.
async function run() {
  const results = [];
  window.__progress = { current: "", results };
  const out = document.getElementById("out");
  for (const t of tests) {
    window.__progress.current = t.name;
    const start = performance.now();
    let error = "";
    try {
      await t.fn();
    } catch (e) {
      error = String(e && e.stack ? e.stack : e);
    } finally {
      for (const s of open) s.close();
      open = [];
    }
    const ms = Math.round(performance.now() - start);
    results.push({ name: t.name, ok: !error, error, ms });
    const li = document.createElement("li");
    li.textContent = `${error ? "FAIL" : "ok"} ${t.name} (${ms} ms)${error ? ": " + error : ""}`;
    out.append(li);
  }
  window.__progress.current = "";
  window.__results = results;
}
run();
