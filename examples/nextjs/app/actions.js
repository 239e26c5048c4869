"use server";

// The recipe's sendToUser, through sselog's HTTP API with the publisher
// key (which never reaches the browser). The answer's "live" is how many
// streams were open for the user: the recipe's true/false, as a hint (the
// event is stored and replayed either way).
export async function sendToUser(formData) {
  const user = String(formData.get("user"));
  const title = String(formData.get("title"));
  const res = await fetch(`${process.env.SSELOG_URL}/v1/users/${encodeURIComponent(user)}/events`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${process.env.SSELOG_PUBLISHER_KEY}`,
      "Content-Type": "application/json",
    },
    body: JSON.stringify({ event: "notification", data: { title, body: "sent by a server action" } }),
    cache: "no-store",
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`sselog: ${res.status} ${body.error}`);
  if (body.live === 0) {
    // Nobody is listening right now: this is where an app falls back to
    // e-mail or push.
  }
  return body;
}
