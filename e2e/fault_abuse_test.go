//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/internal/testkit"
)

// Sizes of one round of attack. The short form runs one round;
// SSELOG_SOAK=1 runs five, to show memory does not creep round on round.
const (
	stalledSubscribers = 20   // stream requests whose bodies are never read
	idleConns          = 1000 // connections that never send a byte
	slowlorisConns     = 50   // header bytes trickled, never finished
	latencySamples     = 200  // publish-to-receive samples per phase
)

// TestFaultHostileClients: while the binary is under attack — subscribers
// that never read a 10 MiB replay, 1,000 connections that send nothing,
// slowloris headers, huge bodies, oversized headers and garbage bytes —
// a well-behaved publisher and subscriber still get through: the median
// publish-to-receive latency under attack stays within 4x of the
// unloaded median measured in the same run (before and after the
// attack). The attackers run in this process on the same two cores, so
// their own CPU slows the good client: on a busy CI machine that alone
// measured 2.2x. A server that made the good client wait behind an
// abuser (a stalled write, a slowloris header, a huge body) would show
// the abusers' deadlines, seconds against milliseconds, far past 4x. The server closes every abuser in bounded time (write
// deadline, ReadHeaderTimeout), its memory stays bounded and its open
// files return to where they were, nothing hostile is stored, and it
// still stops cleanly.
func TestFaultHostileClients(t *testing.T) {
	pprof := freeLoopbackAddr(t) // to force a GC before reading the live heap
	s := startServer(t, t.TempDir()+"/sselog.db", "--write-timeout", "5s", "--pprof", pprof)
	c, err := client.New(s.URL)
	require.NoError(t, err)

	// 200 events of 48 KiB (~10 MiB) for the subscribers that never read.
	big := json.RawMessage(`"` + strings.Repeat("v", 48<<10) + `"`)
	for range 200 {
		_, err := c.Publish(context.Background(), "victim", "big", big, "")
		require.NoError(t, err)
	}
	sub := testkit.Subscribe(t, s.URL+"/v1/users/good/stream", nil)
	require.Equal(t, "connected", sub.Next(wait).Event)
	b := serverFigures{
		rss:        metric(t, s.URL, "process_resident_memory_bytes"),
		fds:        metric(t, s.URL, "process_open_fds"),
		goroutines: metric(t, s.URL, "go_goroutines"),
		live:       liveHeap(t, s.URL, pprof),
	}
	calm := measureLatency(t, c, sub, latencySamples)
	published := 200 + latencySamples

	rounds := 1
	if soak() {
		rounds = 5
	}
	var loaded []time.Duration
	var figs []roundFigures
	for r := range rounds {
		f := attackRound(t, s, c, sub, b)
		f.live = liveHeap(t, s.URL, pprof)
		checkRound(t, r+1, f, b)
		loaded = append(loaded, f.latency...)
		published += len(f.latency)
		figs = append(figs, f)
	}
	if rounds > 1 {
		// Measured without -race, RSS after each of five rounds stays
		// within 65-79 MiB; the race detector's shadow memory adds some
		// 10-40 MiB a round that it never gives back, hence the margin.
		// The live-heap check is the tight one.
		first, last := figs[0], figs[rounds-1]
		assert.Less(t, last.rssAfter-first.rssAfter, float64(192<<20), "resident memory does not creep from round to round")
		assert.Less(t, last.live-first.live, float64(16<<20), "the live heap does not creep from round to round")
	}
	after := measureLatency(t, c, sub, latencySamples)
	published += latencySamples

	base, under := median(append(calm, after...)), median(loaded)
	t.Logf("publish-to-receive median: %s unloaded (%s before, %s after), %s under attack (%.2fx); p90 %s unloaded, %s under attack",
		base, median(calm), median(after), under, float64(under)/float64(base),
		percentile(append(calm, after...), 0.9), percentile(loaded, 0.9))
	assert.LessOrEqual(t, under, 4*base, "the median latency under attack is within 4x of the unloaded median")

	// Nothing hostile was stored, and the server still stops cleanly.
	assert.Equal(t, float64(published), metric(t, s.URL, "sselog_events"), "the log holds exactly what was published")
	assert.Empty(t, historyIDs(t, c, "huge"), "refused bodies stored nothing")
	s.Stop()
}

// serverFigures is the server at rest, before the attack.
type serverFigures struct {
	rss, fds, goroutines float64
	live                 float64 // heap in use right after a GC
}

// roundFigures is what one round of attack measured.
type roundFigures struct {
	latency           []time.Duration
	rssPeak, rssAfter float64
	heapPeak, live    float64
	fdsPeak, goPeak   float64
	huge, junk        int64
}

// checkRound logs a round's figures and bounds its memory.
func checkRound(t *testing.T, r int, f roundFigures, b serverFigures) {
	t.Helper()
	mib := func(v float64) float64 { return v / (1 << 20) }
	t.Logf("round %d: median %s under attack; resident memory %.1f MiB before, %.1f MiB peak, %.1f MiB after; "+
		"Go heap in use %.1f MiB under attack, live heap after a GC %.1f MiB (%.1f MiB before); "+
		"open files %.0f (%.0f before); goroutines %.0f (%.0f before); %d huge bodies and %d garbage requests refused",
		r, median(f.latency), mib(b.rss), mib(f.rssPeak), mib(f.rssAfter), mib(f.heapPeak), mib(f.live), mib(b.live),
		f.fdsPeak, b.fds, f.goPeak, b.goroutines, f.huge, f.junk)
	// The race detector's shadow memory inflates RSS and is never given
	// back, so its bound is loose; the heap bounds are the tight ones: a
	// server that buffered the stalled subscribers' replays would hold
	// 20 x 10 MiB. The stream's frame cache may keep up to 32 MiB of
	// formatted frames (here the victim's replay) by design; beyond that
	// the server must have let go of every abuser.
	assert.Less(t, f.rssPeak-b.rss, float64(384<<20), "resident memory grows by less than 384 MiB")
	assert.Less(t, f.heapPeak, float64(128<<20), "the Go heap in use under attack stays under 128 MiB")
	assert.Less(t, f.live-b.live, float64(48<<20), "the live heap after a round grows by less than the frame cache's 32 MiB budget plus 16 MiB")
}

// attackRound opens every kind of hostile client, measures the good
// client's latency meanwhile, then requires the server to have closed
// every abuser and given back their files.
func attackRound(t *testing.T, s *server, c *client.Client, sub *testkit.Stream, b serverFigures) roundFigures {
	t.Helper()
	var f roundFigures
	slowBefore := metric(t, s.URL, "sselog_slow_closed_total")
	atk := newAttack(t, s.Addr)
	atk.stalled(stalledSubscribers)
	atk.idle(idleConns)
	atk.slowloris(slowlorisConns)
	atk.loop(atk.hugeBodies)
	atk.loop(atk.garbage)
	waitMetric(t, s.URL, "sselog_subscribers", float64(1+stalledSubscribers), 30*time.Second)
	waitMetric(t, s.URL, "process_open_fds", b.fds+idleConns, 30*time.Second)
	f.fdsPeak = metric(t, s.URL, "process_open_fds")
	f.goPeak = metric(t, s.URL, "go_goroutines")
	f.rssPeak = metric(t, s.URL, "process_resident_memory_bytes")
	f.latency = measureLatency(t, c, sub, latencySamples)
	f.rssPeak = max(f.rssPeak, metric(t, s.URL, "process_resident_memory_bytes"))
	f.heapPeak = metric(t, s.URL, "go_memstats_heap_inuse_bytes")
	atk.stopLoops()
	f.huge, f.junk = atk.huge.Load(), atk.junk.Load()
	assert.Positive(t, f.huge)
	assert.Positive(t, f.junk)

	// Every abuser is cut off by the server, in bounded time.
	waitMetric(t, s.URL, "sselog_slow_closed_total", slowBefore+stalledSubscribers, 30*time.Second)
	atk.requireClosedByServer(30 * time.Second)
	atk.closeAll()
	waitMetricBelow(t, s.URL, "process_open_fds", b.fds+10, 30*time.Second)
	waitMetricBelow(t, s.URL, "go_goroutines", b.goroutines+10, 30*time.Second) // no handler leaked
	f.rssAfter = metric(t, s.URL, "process_resident_memory_bytes")
	f.rssPeak = max(f.rssPeak, f.rssAfter)
	return f
}

// freeLoopbackAddr returns a loopback address with a port free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// liveHeap forces a GC in the server (pprof's heap?gc=1) and returns the
// heap in use right after it: what the server actually keeps.
func liveHeap(t *testing.T, base, pprof string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprof+"/debug/pprof/heap?gc=1", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return metric(t, base, "go_memstats_heap_inuse_bytes")
}

// measureLatency publishes n events to "good", one at a time, and
// returns how long each took from the publish call to its arrival on sub.
func measureLatency(t *testing.T, c *client.Client, sub *testkit.Stream, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, n)
	for i := range n {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		id, err := c.Publish(ctx, "good", "ping", json.RawMessage(fmt.Sprint(i)), "")
		cancel()
		require.NoError(t, err)
		m := sub.NextData(wait)
		out[i] = time.Since(start)
		require.Equal(t, id, m.ID, "the good subscriber gets each event in order")
	}
	return out
}

func median(ds []time.Duration) time.Duration { return percentile(ds, 0.5) }

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

// waitMetric waits until a server metric reaches at least want.
func waitMetric(t *testing.T, base, name string, want float64, timeout time.Duration) {
	t.Helper()
	waitMetricCond(t, base, name, timeout, fmt.Sprintf(">= %.0f", want), func(v float64) bool { return v >= want })
}

// waitMetricBelow waits until a server metric is under limit.
func waitMetricBelow(t *testing.T, base, name string, limit float64, timeout time.Duration) {
	t.Helper()
	waitMetricCond(t, base, name, timeout, fmt.Sprintf("< %.0f", limit), func(v float64) bool { return v < limit })
}

func waitMetricCond(t *testing.T, base, name string, timeout time.Duration, what string, ok func(float64) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		v := metric(t, base, name)
		if ok(v) {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("%s is %.0f after %s, want %s", name, v, timeout, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
