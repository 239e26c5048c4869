// sselog.js — the browser client of sselog. An ES module with no build step
// and no dependencies:
//
//   import { subscribe } from "/sselog.js";
//   const sub = subscribe({
//     url: "/v1/users/alice/stream",
//     storageKey: "sselog:alice",          // resume after a reload
//     events: { notification: (data, id) => show(data) },
//     onStatus: (s) => dot.dataset.status = s,
//     onGap: (gap) => refetchState(gap),
//   });
//   sub.close();
//
// What it guarantees on top of EventSource: every event id it has seen is
// remembered (and, with storageKey, persisted), every EventSource it creates
// itself carries that id as ?lastEventId= (the browser's own reconnects send
// Last-Event-ID, which wins on the server), and an event whose id is not
// greater than the last one seen is dropped, so the app sees each event once
// and in order. When the browser gives up (readyState CLOSED) the client
// probes the URL with fetch() to learn the status EventSource hides: 204, 400
// and 403 stop it for good; 401 (an expired or invalid token) asks the token
// provider for a new token and reconnects from the last id seen (with a fixed
// token string, 401 stops it too); anything else is retried with capped
// exponential backoff and full jitter (a 429, the server's stream cap, first
// waits the Retry-After it names).

/** Statuses reported through onStatus. */
export const CONNECTED = "connected";
export const RECONNECTING = "reconnecting";
export const DISCONNECTED = "disconnected";

/**
 * HTTP statuses after which reconnecting cannot help: 204 is the server's
 * polite "stop", 400 a user id the server rejects, 403 a token for another
 * user. 401 (a missing, expired or invalid token) is final only for a fixed
 * token string: a token provider is asked for a new token instead. A 404 is
 * retried: proxies answer it while a deploy is under way.
 */
export const FINAL_STATUSES = Object.freeze([204, 400, 403]);

/** UNAUTHORIZED is the status that makes a token provider be called again. */
export const UNAUTHORIZED = 401;

const RESERVED = new Set(["connected", "gap", "error", "open"]);
const DEFAULT_BACKOFF = Object.freeze({ baseMs: 1000, maxMs: 30000 });

/**
 * backoffDelay returns the wait before reconnect attempt number `attempt`
 * (0 for the first): "full jitter", a uniform draw in [0, cap) where
 * cap = min(maxMs, baseMs * 2^attempt). Jitter spreads a crowd of clients
 * that lost the same server, so they do not all come back in the same
 * millisecond.
 */
export function backoffDelay(attempt, baseMs, maxMs, random = Math.random) {
  const n = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  const base = Math.max(0, Number(baseMs) || 0);
  const max = Math.max(0, Number(maxMs) || 0);
  // 2 ** n overflows to Infinity for large n; min() turns that into max
  // (and 0 * Infinity would be NaN, hence the test on base).
  const cap = base === 0 ? 0 : Math.min(max, base * 2 ** n);
  const r = random();
  const u = r >= 0 && r < 1 ? r : 0;
  return Math.floor(u * cap);
}

/**
 * buildUrl returns url with the token and resume point set as query
 * parameters (`token=`, `lastEventId=`); empty values leave the URL's own
 * parameter untouched. A relative url is resolved against the page, and the
 * result is absolute.
 */
export function buildUrl(url, { token, lastEventId } = {}) {
  const base = globalThis.location ? globalThis.location.href : undefined;
  const u = new URL(String(url), base);
  if (token) u.searchParams.set("token", token);
  if (lastEventId) u.searchParams.set("lastEventId", lastEventId);
  return u.href;
}

/** parseData returns the JSON value of an event's data, or the raw text. */
export function parseData(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * isNewer reports whether id should be delivered after last: ULIDs sort as
 * strings, so an id equal to or below the last one seen is a repeat.
 */
export function isNewer(id, last) {
  return !last || id > last;
}

// canonical returns a ULID in the server's (upper) case: the server reads
// ids case-insensitively, and a lowercase cursor would sort after every id
// it sends. Anything else is returned as it is (the server answers a gap).
const canonical = (id) => (/^[0-9A-Za-z]{26}$/.test(id) ? id.toUpperCase() : id);

function readStored(key) {
  if (!key) return "";
  try {
    return globalThis.localStorage.getItem(key) || "";
  } catch {
    return ""; // storage disabled (privacy mode, sandboxed frame)
  }
}

function writeStored(key, value) {
  if (!key) return;
  try {
    if (value) globalThis.localStorage.setItem(key, value);
    else globalThis.localStorage.removeItem(key);
  } catch {
    // A full or disabled storage costs the resume after a reload, nothing more.
  }
}

/**
 * probeStatus fetches url to learn the HTTP status that EventSource does not
 * expose. It resolves to the status, or 0 when the request failed (network
 * down, or a cross-origin server that sends no CORS headers). A 200 stream is
 * aborted as soon as its headers arrive.
 */
export async function probeStatus(url, signal, timeoutMs) {
  return (await probe(url, signal, timeoutMs)).status;
}

/**
 * retryAfterMs reads a Retry-After header value (seconds, or an HTTP date)
 * as a wait in milliseconds, capped at 5 minutes; 0 when absent or bad.
 */
export function retryAfterMs(value) {
  const v = String(value ?? "").trim();
  let ms = 0;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else if (v) {
    const at = Date.parse(v);
    if (Number.isFinite(at)) ms = at - Date.now();
  }
  return Math.min(Math.max(0, ms), 300000);
}

/**
 * probe is probeStatus with the answer's Retry-After, in ms (0 if none):
 * a server over its stream cap answers 429 and says when to come back.
 * An answer that has not come within timeoutMs (10 s) counts as none
 * (status 0): behind a proxy that takes the connection and never answers,
 * the client then backs off and tries again instead of waiting as long as
 * the browser would.
 */
export async function probe(url, signal, timeoutMs = PROBE_TIMEOUT_MS) {
  const ctrl = new AbortController();
  const stop = () => ctrl.abort();
  if (signal) signal.addEventListener("abort", stop, { once: true });
  const timer = setTimeout(stop, timeoutMs);
  try {
    const res = await fetch(url, {
      headers: { Accept: "text/event-stream" },
      cache: "no-store",
      signal: ctrl.signal,
    });
    return { status: res.status, retryAfterMs: retryAfterMs(res.headers.get("Retry-After")) };
  } catch {
    return { status: 0, retryAfterMs: 0 };
  } finally {
    clearTimeout(timer);
    ctrl.abort(); // ends a streaming body we never read
    if (signal) signal.removeEventListener("abort", stop);
  }
}

const PROBE_TIMEOUT_MS = 10000;

/**
 * subscribe opens a stream and keeps it open until close() or a final
 * status. Options:
 *   url          the stream URL, e.g. "/v1/users/alice/stream" (required)
 *   token        subscriber token, sent as ?token=: a string, or a provider
 *                `async () => string` called before the first connect and
 *                again whenever the server answers 401 (the token expired:
 *                the server also ends a stream when its token expires, and
 *                the reconnect with the old token meets that 401);
 *                a provider that throws or returns no string stops the
 *                subscription (onError gets its error, err.provider = true)
 *   getToken     an alias of a token provider, for code written against
 *                sselog.js's earlier option: the same provider, called on
 *                every 401. With token a string as well, that string is
 *                used for the first connect and getToken only after a 401;
 *                a function token wins over getToken
 *   events       {name: (data, id, name) => …} for named events ("message"
 *                for unnamed ones); EventSource only delivers names it
 *                listens for, so list every name (null: onMessage only)
 *   onMessage    (data, id, name) => … for every event, named or not
 *                ("message"), after its own handler
 *   onStatus     (status) => …, "connected" | "reconnecting" | "disconnected"
 *   onGap        (gap) => … when the server says events were lost or the
 *                resume point was not valid ({reason, lastEventId, oldestId})
 *   onConnected  (info) => … with the server's connected event data
 *   onError      (err) => …; err.status is set when a final status stopped it
 *                (403, 204, 400; 401 with a fixed token)
 *   onRetry      ({attempt, delay, status}) => … before each reconnect of its
 *                own, e.g. to show "retrying in 4 s" (status 0: no answer)
 *   lastEventId  resume point; wins over the stored one
 *   storageKey   localStorage key to persist the last id under
 *   backoff      {baseMs, maxMs} for its own reconnects (1000, 30000)
 *   probeTimeoutMs  how long to wait for the status probe's answer after
 *                the browser gave up (10000); none counts as a failure
 *   random       a () => [0,1) source for jitter (tests)
 * It returns {close(), get lastEventId(), get status()}.
 */
export function subscribe(options) {
  const opts = { ...options };
  if (!opts.url) throw new TypeError("sselog: subscribe needs a url");
  const backoff = { ...DEFAULT_BACKOFF, ...(opts.backoff || {}) };
  const handlers = opts.events || {};
  const random = opts.random || Math.random;
  // One provider, whichever option named it: getToken is an alias.
  const provider =
    typeof opts.token === "function"
      ? opts.token
      : typeof opts.getToken === "function"
        ? opts.getToken
        : null;
  let token = typeof opts.token === "string" ? opts.token : "";

  let lastId = canonical(opts.lastEventId || readStored(opts.storageKey));
  let status = "";
  let es = null;
  // What the browser itself resumes es from when it reconnects on its own:
  // the last id line it read, else the ?lastEventId= it was opened with.
  let esFrom = "";
  let timer = 0;
  let attempt = 0;
  let stopped = false;
  let probing = null;

  const report = (err) => {
    if (opts.onError) opts.onError(err);
    else console.error("sselog:", err);
  };
  const call = (fn, ...args) => {
    if (!fn) return;
    try {
      fn(...args);
    } catch (err) {
      report(err); // one throwing handler must not stall the stream
    }
  };
  const setStatus = (s) => {
    if (s === status) return;
    status = s;
    call(opts.onStatus, s);
  };

  const deliver = (name, e) => {
    const id = e.lastEventId;
    if (id) esFrom = id;
    if (id && !isNewer(id, lastId)) return; // a repeat: seen already
    if (id) {
      lastId = id;
      writeStored(opts.storageKey, id);
    }
    const data = parseData(e.data);
    call(handlers[name], data, id, name);
    call(opts.onMessage, data, id, name);
  };

  // The server's connected and gap events carry no id, so the id the browser
  // reports for them is the previous event's: they bypass deduplication.
  const onConnected = (e) => {
    const info = parseData(e.data);
    // With no id of our own, where the stream stands is one: a reconnect
    // from it misses nothing published while we were away.
    if (!lastId && info && typeof info.resumeFrom === "string" && info.resumeFrom) {
      lastId = info.resumeFrom;
      writeStored(opts.storageKey, lastId);
    }
    call(handlers.connected, info, "", "connected");
    call(opts.onConnected, info);
  };
  const onGap = (e) => {
    // Whatever we held is not a position in this server's log (invalid,
    // unknown or expired): resume from where the server says the stream
    // stands (an older server says nothing: accept what follows).
    const gap = parseData(e.data);
    lastId = (gap && typeof gap.resumeFrom === "string" && gap.resumeFrom) || "";
    writeStored(opts.storageKey, lastId);
    call(handlers.gap, gap, "", "gap");
    call(opts.onGap, gap);
  };

  const connect = () => {
    timer = 0;
    if (stopped) return;
    const src = new EventSource(buildUrl(opts.url, { token, lastEventId: lastId }));
    es = src;
    esFrom = lastId;
    src.onopen = () => {
      attempt = 0;
      setStatus(CONNECTED);
    };
    src.onerror = () => onError(src);
    src.addEventListener("message", (e) => deliver("message", e));
    src.addEventListener("connected", onConnected);
    src.addEventListener("gap", onGap);
    for (const name of Object.keys(handlers)) {
      if (!RESERVED.has(name) && name !== "message") {
        src.addEventListener(name, (e) => deliver(name, e));
      }
    }
  };

  const onError = (src) => {
    if (stopped || src !== es) return;
    setStatus(RECONNECTING);
    // CONNECTING: the browser retries by itself, sending Last-Event-ID,
    // unless it would resume from elsewhere than we would (we took a
    // connected or gap event's resumeFrom, which it never saw as an id):
    // then we reconnect ourselves, after the usual wait.
    if (src.readyState !== EventSource.CLOSED) {
      if (esFrom === lastId) return;
      src.close();
      es = null;
      const wait = backoffDelay(attempt, backoff.baseMs, backoff.maxMs, random);
      call(opts.onRetry, { attempt, delay: wait, status: 0 });
      attempt++;
      timer = setTimeout(connect, wait);
      return;
    }
    src.close();
    es = null;
    retry();
  };

  // retry runs after the browser gave up: it learns why, then either stops
  // for good or opens a new EventSource after a jittered wait.
  const retry = async () => {
    probing = new AbortController();
    const { status: code, retryAfterMs: after } = await probe(
      buildUrl(opts.url, { token, lastEventId: lastId }),
      probing.signal,
      opts.probeTimeoutMs,
    );
    probing = null;
    if (stopped) return;
    if (code === UNAUTHORIZED && provider) {
      // The token expired (or the server's secret changed): ask for a new
      // one, then reconnect from the last id seen, after the usual wait so
      // a provider that keeps handing out bad tokens is not hammered.
      if (!(await refresh())) return;
    } else if (FINAL_STATUSES.includes(code) || code === UNAUTHORIZED) {
      halt();
      const err = new Error(`sselog: stream answered ${code}, not reconnecting`);
      err.status = code;
      report(err);
      return;
    }
    // A 429 (too many streams) says when to come back: wait that long,
    // plus the jittered backoff so a crowd does not return at once.
    const wait =
      (code === 429 ? after : 0) + backoffDelay(attempt, backoff.baseMs, backoff.maxMs, random);
    call(opts.onRetry, { attempt, delay: wait, status: code });
    attempt++;
    timer = setTimeout(connect, wait);
  };

  // refresh asks the provider for a token; on failure it stops the
  // subscription for good and reports why. It resolves to whether to go on.
  const refresh = async () => {
    let t;
    try {
      t = await provider();
      if (typeof t !== "string" || t === "") {
        throw new TypeError(`sselog: the token provider returned ${t === "" ? "an empty string" : typeof t}, not a token`);
      }
    } catch (err) {
      if (stopped) return false;
      halt();
      const e = err instanceof Error ? err : new Error(String(err));
      e.provider = true;
      report(e);
      return false;
    }
    if (stopped) return false;
    token = t;
    return true;
  };

  const halt = () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = 0;
    if (probing) probing.abort();
    if (es) es.close();
    es = null;
    setStatus(DISCONNECTED);
  };

  setStatus(RECONNECTING); // not connected yet, and trying
  if (provider && !token) refresh().then((go) => go && connect());
  else connect();

  return {
    close: halt,
    get lastEventId() {
      return lastId;
    },
    get status() {
      return status;
    },
  };
}

// PROVIDER stands for any token provider in useSselog's dependencies.
const PROVIDER = Symbol("sselog token provider");

/**
 * useSselog is a React hook over subscribe. React is passed in (React's own
 * module or window.React) so this file needs no bundler:
 *
 *   const { status, events, lastEventId } = useSselog(React, {
 *     url, token, events: { notification: null }, max: 50, storageKey,
 *   });
 *
 * `events` are the newest first, at most `max` (50) of them, each
 * {id, event, data}. Names in options.events may map to null when only the
 * list is wanted. `token` is a string or a provider `async () => string`,
 * as for subscribe: a provider is called again when the server answers 401,
 * and the newest provider passed is the one called, so an inline arrow
 * function does not rebuild the stream (getToken, its alias, likewise). The stream is rebuilt only when url
 * (as text: a new URL object per render is the same url) or a token string
 * change. A new token resumes from where the stream stood (its last id, or
 * a connected or gap event's resumeFrom), so it loses nothing; a new url is
 * another stream and starts from its own resume point (lastEventId, else
 * storageKey's).
 */
export function useSselog(React, options) {
  const { useState, useEffect, useRef } = React;
  const [status, setStatus] = useState(RECONNECTING);
  // A URL object may be new at every render: the stream is keyed by its text.
  const url = String(options.url);
  // What the stream of view.url delivered: another url (another user's
  // stream) shows none of it, from its first render on.
  const [view, setView] = useState({ url, events: [], lastEventId: "" });
  const latest = useRef(options);
  latest.current = options;
  // Where the stream of `url` stands: a rebuild resumes from it; another url
  // (say, another user's stream) starts from its own resume point.
  const cursor = useRef({ url, id: options.lastEventId || "" });

  useEffect(() => {
    const o = latest.current;
    if (cursor.current.url !== url) cursor.current = { url, id: "" };
    const at = cursor.current;
    const names = {};
    for (const name of Object.keys(o.events || {})) {
      names[name] = (...args) => {
        const h = latest.current.events && latest.current.events[name];
        if (h) h(...args);
      };
    }
    const sub = subscribe({
      ...o,
      token: typeof o.token === "function" ? () => latest.current.token() : o.token,
      getToken: typeof o.getToken === "function" ? () => latest.current.getToken() : undefined,
      lastEventId: at.id || o.lastEventId,
      events: names,
      onStatus: (s) => {
        setStatus(s);
        if (latest.current.onStatus) latest.current.onStatus(s);
      },
      onGap: (g) => latest.current.onGap && latest.current.onGap(g),
      onError: (err) => latest.current.onError && latest.current.onError(err),
      onConnected: (i) => latest.current.onConnected && latest.current.onConnected(i),
      onRetry: (r) => latest.current.onRetry && latest.current.onRetry(r),
      onMessage: (data, id, event) => {
        const max = latest.current.max || 50;
        setView((prev) => ({
          url,
          events: [{ id, event, data }, ...(prev.url === url ? prev.events : [])].slice(0, max),
          lastEventId: id,
        }));
        if (latest.current.onMessage) latest.current.onMessage(data, id, event);
      },
    });
    return () => {
      // The subscription's cursor: its last event, or the resumeFrom of a
      // connected or gap event that came after it.
      at.id = sub.lastEventId;
      sub.close();
    };
  }, [url, typeof options.token === "function" ? PROVIDER : options.token]);

  if (view.url !== url) return { status, events: [], lastEventId: options.lastEventId || "" };
  return { status, events: view.events, lastEventId: view.lastEventId || options.lastEventId || "" };
}
