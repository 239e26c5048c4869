import { createHmac } from "node:crypto";

// Mints a subscriber token: an HS256 JWT signed with sselog's subscriber
// secret, sub = the user, valid for a short while (the client asks for a
// new one when sselog answers 401). A real app takes the user from its
// session, never from the request.
export const dynamic = "force-dynamic";

const b64url = (s) => Buffer.from(s).toString("base64url");

export async function GET(request) {
  const user = new URL(request.url).searchParams.get("user") || "alice";
  const ttl = Number(process.env.SSELOG_TOKEN_TTL || 900); // seconds
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify({ sub: user, iat: now, exp: now + ttl }))}`;
  const sig = createHmac("sha256", process.env.SSELOG_SUBSCRIBER_SECRET).update(input).digest("base64url");
  return new Response(`${input}.${sig}`, { headers: { "Content-Type": "text/plain", "Cache-Control": "no-store" } });
}
