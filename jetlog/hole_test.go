package jetlog

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/stream"
)

// TestHoleAboveTheTailsLast: a hole above the node's newest event (a
// sequence retention deleted while the follower lagged), then only
// messages that are not events, keeps the tail from answering from its
// last event. A read with nothing of the reader's up to there asked the
// stream again and again, and after 10 tries returned an empty page with
// a zero Last: a client resuming from an id this stream never issued was
// sent on from the zero id ("from the oldest retained") and got every
// retained event again.
func TestHoleAboveTheTailsLast(t *testing.T) {
	l, nc := openOn(t, runNATS(t), Options{Stream: "GIVEUP", MaxEvents: 3, FollowerCheck: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	app := func(data string) eventlog.ID {
		id, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(data)})
		require.NoError(t, err)
		return id
	}
	first := app(`1`)
	last := app(`2`)
	require.Eventually(t, func() bool { return l.Last() == last }, 10*time.Second, 5*time.Millisecond)

	l.mu.Lock()
	l.cc.Stop() // the follower lags; the watchdog starts it over
	l.mu.Unlock()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	var foreign uint64
	for range 4 { // another app's messages: the cap deletes the first before the follower gets it
		ack, err := js.Publish(ctx, "GIVEUP.x", []byte(`not an event`))
		require.NoError(t, err)
		foreign = ack.Sequence
	}
	require.Eventually(t, func() bool { return l.tail.seenSeq() == foreign }, 20*time.Second, 5*time.Millisecond, "the watchdog restarts the follower")
	l.tail.mu.RLock()
	require.Equal(t, []hole{{seqOf(last) + 1, seqOf(last) + 1}}, l.tail.holes, "a hole above the tail's last event")
	l.tail.mu.RUnlock()

	other := last
	other[13] ^= 1 // the newest event's sequence, another millisecond: never issued here

	// On the wire: a client resuming from it is told so and follows
	// from the newest event, not from the oldest retained.
	hub := stream.NewHub()
	h := stream.NewHandler(l, hub, stream.Options{Heartbeat: time.Hour})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream/{user}", func(w http.ResponseWriter, r *http.Request) { h.Serve(w, r, r.PathValue("user")) })
	web := httptest.NewServer(mux)
	t.Cleanup(func() { hub.Close(); web.Close() })
	c := testkit.Subscribe(t, web.URL+"/stream/u?lastEventId="+other.String(), nil)
	require.Equal(t, "connected", c.Next(10*time.Second).Event)
	m := c.Next(10 * time.Second)
	require.Equal(t, "gap", m.Event)
	var gap struct{ Reason, ResumeFrom string }
	require.NoError(t, json.Unmarshal([]byte(m.Data), &gap))
	assert.Equal(t, "unknown-last-event-id", gap.Reason)
	assert.Equal(t, last.String(), gap.ResumeFrom, "the gap's resumeFrom is the newest event")
	live := app(`3`)
	got, err := eventlog.ParseID(c.NextData(10 * time.Second).ID)
	require.NoError(t, err)
	require.Equal(t, live, got, "the live tail only, no retained event again (first=%s)", first)

	// The same reads, straight.
	l.mu.Lock()
	l.cc.Stop()
	l.mu.Unlock()
	for range 4 {
		ack, err := js.Publish(ctx, "GIVEUP.x", []byte(`not an event`))
		require.NoError(t, err)
		foreign = ack.Sequence
	}
	require.Eventually(t, func() bool { return l.tail.seenSeq() == foreign }, 20*time.Second, 5*time.Millisecond, "the watchdog restarts the follower")
	require.Equal(t, live, l.Last())
	p, err := l.ReadAfter("u", live, 10)
	require.NoError(t, err)
	assert.Empty(t, p.Events)
	assert.False(t, p.Unknown)
	assert.Equal(t, live, p.Last, "where the node stands")
	other = live
	other[13] ^= 1
	p, err = l.ReadAfter("u", other, 10)
	require.NoError(t, err)
	assert.True(t, p.Unknown)
	assert.Equal(t, live, p.Last, "where a reader that resumed from an unknown id goes on")
}
