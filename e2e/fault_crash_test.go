package e2e

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
)

// TestFaultCrashLoop: the real binary under continuous publishing and
// subscribing is killed with SIGKILL at random moments and restarted on
// the same file and port each time. At the end, per user, every
// acknowledged event is in the log under its id, nothing is stored twice
// or out of nowhere, and every subscriber — resuming with Last-Event-ID
// (header or query) after each kill — received exactly the log's
// sequence for its user: each id once, in order. Events whose commit
// landed but whose ack the kill cut are counted too: they are in the
// sequences like any other. 8 kills in the short form, 50 under
// SSELOG_SOAK=1.
func TestFaultCrashLoop(t *testing.T) {
	kills, timeout := 8, 2*time.Minute
	if soak() {
		kills, timeout = 50, 15*time.Minute
	}
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d, %d kills", seed, kills)

	data := filepath.Join(t.TempDir(), "sselog.db")
	// Keep every event (no retention) so the log can be counted whole;
	// a short retry: makes client.Tail reconnect quickly.
	args := []string{"--retention", "0", "--max-events", "0", "--retry", "20ms"}
	s := startServer(t, data, args...)
	args = append(args, "--addr", s.Addr) // same port on every restart
	base := s.URL
	c, err := client.New(base)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	users := []string{"alice", "bob", "carol"}
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	var fs []*follower
	for _, u := range users {
		q := newFollower(base, u, eventlog.ZeroID.String(), true)
		go q.run(fctx)
		fs = append(fs, q, tailFollower(fctx, base, u, eventlog.ZeroID.String()))
	}
	pubs := []*publisher{
		newPublisher("k1", c, []string{"alice", "bob", ""}, true),
		newPublisher("k2", c, []string{"carol", "alice"}, true),
		newPublisher("u1", c, []string{"bob", "carol", "alice"}, false),
		newPublisher("u2", c, []string{"", "alice", "bob"}, false),
	}
	for _, p := range pubs {
		go p.run(ctx)
	}

	for k := range kills {
		select {
		case <-time.After(time.Duration(100+rng.IntN(600)) * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("timed out after %d kills", k)
		}
		s.Kill()
		s = startServer(t, data, args...)
	}
	waitAcked(t, pubs, 100) // load after the last restart too
	for _, p := range pubs {
		p.Stop(t)
	}
	// A last event per user: a follower holding it has had the chance to
	// receive everything before it.
	end := publishMarkers(t, ctx, c, "end", users)
	waitMarkers(t, end, users, fs)
	stopFollowers(t, fcancel, fs)
	s.Stop()

	ix := indexLog(t, data, users)
	pubs = append(pubs, end)
	unacked := checkPublishers(t, ix, pubs)
	checkFollowers(t, ix, fs)

	acked, failed, deduped := 0, 0, 0
	for _, p := range pubs {
		acked += p.acked
		failed += p.failed
		deduped += p.deduped
	}
	assert.GreaterOrEqual(t, acked, 10*kills, "the load was too light to mean anything")
	for _, f := range fs {
		_, _, connects := f.received()
		assert.Greater(t, connects, kills/2, "follower of %s resumed after the kills", f.user)
	}
	if soak() {
		// With 50 kills some land between a commit and its answer.
		assert.Positive(t, unacked+deduped, "no kill cut an acknowledgement: the test did not reach the hard case")
	}
	t.Logf("%d kills: %d events stored (%d acknowledged, %d stored with their ack cut by a kill, %d retries under the same key answered with the cut attempt's id), %d failed publish attempts",
		kills, len(ix.byTag), acked, unacked, deduped, failed)
	for _, f := range fs {
		got, _, connects := f.received()
		t.Logf("follower %s query=%v: %d events over %d connections", f.user, f.viaQuery, len(got), connects)
	}
}
