import LiveNotifications from "./LiveNotifications";
import { sendToUser } from "./actions";

// The sselog URL is read at request time, so one build runs anywhere.
export const dynamic = "force-dynamic";

export default async function Page({ searchParams }) {
  // A real app takes the user from its session; the example takes ?user=.
  const { user = "alice" } = await searchParams;
  return (
    <main>
      <h1>Notifications for {user}</h1>
      <form action={sendToUser}>
        <input type="hidden" name="user" value={user} />
        <input name="title" placeholder="Title" required aria-label="Title" />
        <button type="submit">Send to {user}</button>
      </form>
      <LiveNotifications userId={user} sselogUrl={process.env.SSELOG_URL || "http://127.0.0.1:8080"} />
    </main>
  );
}
