package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
)

const wait = 10 * time.Second

// publishN publishes n events to user and returns their ids.
func publishN(t *testing.T, c *client.Client, user string, from, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		id, err := c.Publish(context.Background(), user, "note", json.RawMessage(fmt.Sprintf(`{"n":%d}`, from+i)), "")
		require.NoError(t, err)
		ids[i] = id
	}
	return ids
}

// TestE2EKillAndResume: events acknowledged before a kill -9 survive it,
// and a subscriber resuming from a Last-Event-ID after the restart gets
// exactly the rest, in order, then the live tail.
func TestE2EKillAndResume(t *testing.T) {
	data := filepath.Join(t.TempDir(), "sselog.db")
	s := startServer(t, data)
	c, err := client.New(s.URL)
	require.NoError(t, err)

	sub := testkit.Subscribe(t, s.URL+"/v1/users/alice/stream", nil) // live tail only
	require.Equal(t, "connected", sub.Next(wait).Event)
	ids := publishN(t, c, "alice", 0, 5)
	bid, err := c.Broadcast(context.Background(), "news", json.RawMessage(`"all"`), "")
	require.NoError(t, err)
	ids = append(ids, bid)
	publishN(t, c, "bob", 0, 2) // not alice's: never reaches her
	ids = append(ids, publishN(t, c, "alice", 5, 3)...)
	for i, want := range ids {
		m := sub.NextData(wait)
		require.Equal(t, want, m.ID, "live event %d", i)
	}

	s.Kill()
	s = startServer(t, data)
	resumeAt := 2
	sub = testkit.Subscribe(t, s.URL+"/v1/users/alice/stream", http.Header{"Last-Event-ID": {ids[resumeAt]}})
	connected := sub.Next(wait)
	require.Equal(t, "connected", connected.Event)
	require.Empty(t, connected.ID, "the connected event must not move the resume point")
	for _, want := range ids[resumeAt+1:] {
		m := sub.NextData(wait)
		require.Equal(t, want, m.ID)
	}
	c, err = client.New(s.URL)
	require.NoError(t, err)
	live := publishN(t, c, "alice", 100, 1)[0]
	m := sub.NextData(wait)
	require.Equal(t, live, m.ID, "the first event after the replay is the live one: no duplicate, no gap")
	assert.JSONEq(t, `{"n":100}`, m.Data)
	assert.Equal(t, "note", m.Event)
	s.Stop()
	// One line at start (plus the open-mode warning) and one at stop:
	// nothing per event or per subscriber.
	assert.Equal(t, 3, strings.Count(s.Logs(), "\n"), "log:\n%s", s.Logs())
}

// TestE2ESigtermEndsStreams: SIGTERM ends open streams cleanly (so
// browsers reconnect and resume) and the process exits 0.
func TestE2ESigtermEndsStreams(t *testing.T) {
	data := filepath.Join(t.TempDir(), "sselog.db")
	s := startServer(t, data, "--heartbeat", "1h")
	subs := []*testkit.Stream{
		testkit.Subscribe(t, s.URL+"/v1/users/alice/stream", nil),
		testkit.Subscribe(t, s.URL+"/api/events?userId=bob", nil),
	}
	for _, sub := range subs {
		require.Equal(t, "connected", sub.Next(wait).Event)
	}
	s.Stop()
	for _, sub := range subs {
		sub.WaitEnd(wait)
	}
	assert.Contains(t, s.Logs(), `"msg":"sselog stopped"`)

	lg, err := eventlog.Open(data, eventlog.Options{})
	require.NoError(t, err, "the log was closed cleanly and reopens")
	require.NoError(t, lg.Close())
}
