"use client";

// The recipe's LiveNotifications, rewritten on useSselog: the same list and
// status dot, but events are never lost or shown twice across reconnects,
// reloads, restarts and expired tokens.
import * as React from "react";
import { useSselog } from "../lib/sselog.js";

// The token provider: called before the first connect and again whenever
// sselog answers 401 (the token expired); the stream resumes from the last
// id seen.
async function fetchToken(userId) {
  const res = await fetch(`/api/sselog-token?user=${encodeURIComponent(userId)}`, { cache: "no-store" });
  if (!res.ok) throw new Error(`token route answered ${res.status}`);
  return res.text();
}

export default function LiveNotifications({ userId, sselogUrl }) {
  const { status, events } = useSselog(React, {
    url: `${sselogUrl}/v1/users/${encodeURIComponent(userId)}/stream`,
    token: () => fetchToken(userId),
    events: { notification: null },
    storageKey: `sselog:${userId}`,
    max: 50,
  });
  return (
    <section>
      <p id="status" data-status={status}>
        <span aria-hidden="true" style={{ color: status === "connected" ? "green" : status === "reconnecting" ? "orange" : "red" }}>●</span>{" "}
        {status}
      </p>
      <ul id="notifications">
        {events.map((e) => (
          <li key={e.id} data-id={e.id}>
            <strong>{e.data && e.data.title}</strong> {e.data && e.data.body}
          </li>
        ))}
      </ul>
    </section>
  );
}
