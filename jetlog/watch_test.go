package jetlog

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// A follower that dies (its consumer gone and not recreated) is started
// over by the watchdog: readers waiting on Changed are woken and read
// every event, none skipped.
func TestWatchdogRestartsAStuckFollower(t *testing.T) {
	l, _ := openOn(t, runNATS(t), Options{Stream: "W", FollowerCheck: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})

	first, err := l.Append(context.Background(), eventlog.Input{User: "u", Data: []byte(`0`)})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return l.Last() == first }, 20*time.Second, 10*time.Millisecond)

	l.mu.Lock()
	l.cc.Stop() // the follower dies and nothing recreates it
	l.mu.Unlock()
	wake := l.Changed("u")
	var want []eventlog.ID
	for i := range 5 {
		id, err := l.Append(context.Background(), eventlog.Input{User: "u", Data: fmt.Appendf(nil, `%d`, i+1)})
		require.NoError(t, err)
		want = append(want, id)
	}
	select {
	case <-wake:
	case <-time.After(30 * time.Second):
		t.Fatal("the stuck follower was not started over")
	}
	require.Eventually(t, func() bool { return l.Last() == want[len(want)-1] }, 20*time.Second, 10*time.Millisecond)
	p, err := l.ReadAfter("u", first, 10)
	require.NoError(t, err)
	var got []eventlog.ID
	for _, e := range p.Events {
		got = append(got, e.ID)
	}
	require.Equal(t, want, got)
}

// A node whose follower lags (here it dies and the watchdog restarts it)
// while a noisy user goes past the count cap never sees the deleted
// sequences as events: a hole above its floor. A quiet user resuming from
// an id below the floor must still get its held events. It got an empty
// page (Last zero), wake after wake, until the tail let the hole go.
func TestResumeBelowAHoleAboveTheFloor(t *testing.T) {
	ns := runNATS(t)
	open := func() *Log {
		l, _ := openOn(t, ns, Options{Stream: "LAGCAP", MaxEvents: 3, FollowerCheck: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		return l
	}
	ctx := context.Background()
	pub := open()
	app := func(user string, i int) eventlog.ID {
		id, err := pub.Append(ctx, eventlog.Input{User: user, Data: fmt.Appendf(nil, `%d`, i)})
		require.NoError(t, err)
		return id
	}
	seen := app("u", 0) // the quiet user's last event its subscriber took
	app("v", 1)

	l := open() // this node (re)starts: its floor is v's event
	l.mu.Lock()
	l.cc.Stop() // its follower dies (say, a NATS outage)
	l.mu.Unlock()
	for i := range 6 {
		app("w", 10+i) // the cap deletes 3 of these before the follower gets them
	}
	want := []eventlog.ID{app("u", 20), app("u", 21)}
	require.Eventually(t, func() bool { return l.Last() == want[1] }, 20*time.Second, 10*time.Millisecond, "the watchdog restarts the follower")

	p, err := l.ReadAfter("u", seen, 100)
	require.NoError(t, err)
	require.Equal(t, want, idsOf(p.Events), "page.Last=%s gap=%v", p.Last, p.Gap)
}

// A message that is not an event, last on the stream, is passed by the
// follower: a read that waits for the follower to reach the stream's last
// sequence (to read its own writes) does not wait for an event that will
// never come. Every read waited its 3 s bound, and the watchdog, taking
// the follower for stuck, started it over every few checks.
func TestFollowerPassesAForeignMessage(t *testing.T) {
	l, nc := openOn(t, runNATS(t), Options{Stream: "FOREIGN", FollowerCheck: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	id, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`1`)})
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ack, err := js.Publish(ctx, "FOREIGN.x", []byte(`not an event`))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		return l.waitSeen(ctx, ack.Sequence) // what a read waits for
	}, 10*time.Second, 5*time.Millisecond, "the follower passes it")
	require.Eventually(t, func() bool { return l.acked.Load() == ack.Sequence }, 10*time.Second, 5*time.Millisecond, "the watchdog has seen it")
	require.Equal(t, id, l.Last(), "it is not an event")
	p, err := l.ReadAfter("u", id, 10)
	require.NoError(t, err)
	require.Empty(t, p.Events)
}

// runNATS starts a JetStream server for one test.
func runNATS(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	require.True(t, ns.ReadyForConnections(20*time.Second))
	return ns
}

// openOn opens a log on a connection of its own to ns; both are closed
// at the test's end.
func openOn(t *testing.T, ns *server.Server, opts Options) (*Log, *nats.Conn) {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	l, err := Open(context.Background(), nc, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l, nc
}

// TestStatsReadOwnWrites: Stats' Newest counts what this node has
// acknowledged, as a read does, even while its follower lags. It gave the
// follower's newest event then (the storetest suite saw it on a busy CI
// run).
func TestStatsReadOwnWrites(t *testing.T) {
	l, _ := openOn(t, runNATS(t), Options{Stream: "OWN", FollowerCheck: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	first, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`1`)})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return l.Last() == first }, 10*time.Second, 5*time.Millisecond)
	l.mu.Lock()
	l.cc.Stop() // the follower falls behind; the watchdog starts it over
	l.mu.Unlock()
	second, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`2`)})
	require.NoError(t, err)
	st, err := l.Stats()
	require.NoError(t, err)
	require.Equal(t, second, st.Newest)
}
