package e2e

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/api"
	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
)

// stepClock is the wall clock plus an offset the test moves: a clock an
// NTP correction or an operator's date command can step.
type stepClock struct{ offset atomic.Int64 }

func (c *stepClock) Now() time.Time       { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *stepClock) step(d time.Duration) { c.offset.Add(int64(d)) }

// inproc is the API over a real log file on an httptest server, for
// tests that need to inject what the binary cannot take (a clock).
type inproc struct {
	lg  *eventlog.Log
	api *api.Server
	srv *httptest.Server
	c   *client.Client
	end sync.Once
}

func startInproc(t *testing.T, path string, clk *stepClock) *inproc {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	lg, err := eventlog.Open(path, eventlog.Options{Now: clk.Now, Logger: logger})
	require.NoError(t, err)
	a, err := api.New(lg, api.Config{Now: clk.Now, Logger: logger})
	require.NoError(t, err)
	srv := httptest.NewServer(a.Handler())
	c, err := client.New(srv.URL)
	require.NoError(t, err)
	p := &inproc{lg: lg, api: a, srv: srv, c: c}
	t.Cleanup(p.stop)
	return p
}

// stop ends the streams, the server and the log; safe to call twice.
func (p *inproc) stop() {
	p.end.Do(func() {
		p.api.CloseStreams()
		p.srv.Close()
		_ = p.lg.Close()
	})
}

// TestFaultClockStep: the clock the log stamps events with jumps back an
// hour while publishers and subscribers run, and again after a restart
// that reopens the file under the stepped clock. Ids keep increasing
// (each publisher's acked ids rise across the steps, and every id issued
// after the restart is above the last one before it), and subscribers
// cut off around the steps resume exactly: each received its user's
// whole sequence once, in order.
func TestFaultClockStep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sselog.db")
	clk := &stepClock{}
	p := startInproc(t, path, clk)
	users := []string{"alice", "bob"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	var fs []*follower
	for _, u := range users {
		q := newFollower(p.srv.URL, u, eventlog.ZeroID.String(), true)
		h := newFollower(p.srv.URL, u, eventlog.ZeroID.String(), false)
		go q.run(fctx)
		go h.run(fctx)
		fs = append(fs, q, h)
	}
	var pubs []*publisher
	phase := func(name string) []*publisher {
		ps := []*publisher{
			newPublisher(name+"k", p.c, []string{"alice", "", "bob"}, true),
			newPublisher(name+"u", p.c, []string{"bob", "alice"}, false),
		}
		for _, pb := range ps {
			go pb.run(ctx)
		}
		pubs = append(pubs, ps...)
		return ps
	}
	// Cut every stream (and publisher connection) once ps have n more acks.
	cutAfter := func(ps []*publisher, n int) {
		waitAcked(t, ps, n)
		p.srv.CloseClientConnections()
	}

	first := phase("a")
	cutAfter(first, 100)
	clk.step(-time.Hour) // with publishes in flight
	cutAfter(first, 100)
	cutAfter(first, 100)
	stopAll(t, first)

	// Restart under the stepped clock: the id generator must seed itself
	// from the file, not from the clock.
	before := p.lg.Last()
	p.stop()
	p = startInproc(t, path, clk)
	for _, f := range fs {
		f.setURL(p.srv.URL)
	}
	clk.step(-time.Hour)
	second := phase("b")
	cutAfter(second, 100)
	cutAfter(second, 100)
	stopAll(t, second)
	for _, pb := range second {
		for _, id := range pb.ackedIDs() {
			require.Positive(t, id2(t, id).Compare(before), "id %s issued after the restart is above %s, the last before", id, before)
		}
	}

	end := publishMarkers(t, ctx, p.c, "end", users)
	pubs = append(pubs, end)
	waitMarkers(t, end, users, fs)
	stopFollowers(t, fcancel, fs)
	p.stop()

	ix := indexLog(t, path, users)
	unacked := checkPublishers(t, ix, pubs)
	checkFollowers(t, ix, fs)
	for _, pb := range pubs {
		requireRising(t, pb)
	}
	// The steps really reached the log: its timestamps go back an hour
	// (twice) while its ids rise.
	backs := 0
	evs := ix.byUser["alice"]
	for i := 1; i < len(evs); i++ {
		if evs[i].Time.Before(evs[i-1].Time.Add(-50 * time.Minute)) {
			backs++
		}
	}
	assert.Equal(t, 2, backs, "event times step back twice in alice's log")
	t.Logf("%d events over two clock steps of -1h and a restart (%d stored with their ack cut)", len(ix.byTag), unacked)
}

func id2(t *testing.T, s string) eventlog.ID {
	t.Helper()
	id, err := eventlog.ParseID(s)
	require.NoError(t, err)
	return id
}

// requireRising requires p's acked ids, in publish order, to rise: one
// sequential publisher sees commit order, so its ids must too.
func requireRising(t *testing.T, p *publisher) {
	t.Helper()
	prev := ""
	for _, id := range p.ackedIDs() {
		require.Greater(t, id, prev, "publisher %s: %s acked after %s", p.name, id, prev)
		prev = id
	}
}
