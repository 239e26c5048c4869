package stream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

// rawSubscribe opens user's stream on a bare TCP connection that the test
// reads only when it wants to. (Its receive buffer is left alone: a tiny
// one makes the kernel drain it by slow zero-window probes.)
func rawSubscribe(tb testing.TB, ts *testServer, user string) *net.TCPConn {
	tb.Helper()
	conn, err := net.Dial("tcp", ts.srv.Listener.Addr().String())
	require.NoError(tb, err)
	tc := conn.(*net.TCPConn)
	tb.Cleanup(func() { _ = tc.Close() })
	_, err = fmt.Fprintf(tc, "GET /stream/%s HTTP/1.1\r\nHost: test\r\n\r\n", user)
	require.NoError(tb, err)
	return tc
}

func TestStalledReaderIsClosedWithoutHurtingOthers(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{WriteTimeout: 300 * time.Millisecond})
	stalled := rawSubscribe(t, ts, "slow")
	fast := ts.connect(t, "fast", "", "")
	expectConnected(t, fast, "fast", "")
	waitFor(t, wait, "both subscribed", func() bool { return ts.hub.Stats().Subscribers == 2 })

	// Broadcast big events until the stalled one's socket buffers are
	// full and its write times out; the fast one must get every event.
	big := `"` + strings.Repeat("x", 60<<10) + `"`
	var ids []eventlog.ID
	received := 0
	for ts.hub.Stats().SlowClosed == 0 {
		require.Less(t, len(ids), 2000, "the stalled subscriber was never closed")
		ids = append(ids, ts.append(t, "", "big", big))
		expectEvents(t, fast, ids[received])
		received++
	}
	assert.Equal(t, uint64(1), ts.hub.Stats().SlowClosed)
	waitFor(t, wait, "the stalled stream to leave", func() bool { return ts.hub.Stats().Subscribers == 1 })
	after := ts.append(t, "", "small", `1`)
	expectEvents(t, fast, after)
	t.Logf("stalled subscriber closed after %d events of %d KiB", len(ids), len(big)>>10)

	// The server closed the stalled connection: draining it ends.
	require.NoError(t, stalled.SetReadDeadline(time.Now().Add(wait)))
	_, err := io.Copy(io.Discard, stalled)
	require.NoError(t, err, "EOF, not a timeout")
}

// TestNoLeaksAfterManyConnections opens and drops 1,000 streams and checks
// that every goroutine and hub entry they used is gone.
func TestNoLeaksAfterManyConnections(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: 5 * time.Millisecond})
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	cycle := func(i int) error {
		req, err := http.NewRequest(http.MethodGet, ts.srv.URL+"/stream/"+fmt.Sprint("u", i%7), nil)
		if err != nil {
			return err
		}
		if i%2 == 0 {
			req.Header.Set("Last-Event-ID", eventlog.ZeroID.String())
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		m, err := sse.NewParser(resp.Body).Next()
		if err != nil || m.Event != "connected" {
			return fmt.Errorf("first event %+v: %v", m, err)
		}
		return nil
	}
	require.NoError(t, cycle(0)) // warm up the server's and client's pools
	waitFor(t, wait, "warm-up stream to end", func() bool { return ts.hub.Stats().Subscribers == 0 })
	base := runtime.NumGoroutine()

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < 1000; i += 8 {
				if err := cycle(i); err != nil {
					errs <- err
				}
				if i%50 == 0 {
					ts.append(t, "", "", fmt.Sprint(i)) // some streams are busy when dropped
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	waitFor(t, wait, "hub entries to go", func() bool { return ts.hub.Stats().Subscribers == 0 })
	n := 0
	waitFor(t, wait, "goroutines back to baseline", func() bool { n = runtime.NumGoroutine(); return n <= base })
	t.Logf("goroutines: %d before, %d after", base, n)
}

// TestHubRace has streams join and leave while events are published and
// the hub closes under them.
func TestHubRace(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				c, err := ts.dial(fmt.Sprint("u", w%4), "", "")
				if err != nil {
					return
				}
				for range i % 3 {
					if _, ok := <-c.Events(); !ok {
						break
					}
				}
				_ = ts.hub.Stats()
				_ = ts.hub.Streams(fmt.Sprint("u", w%4))
				c.Close()
			}
		})
	}
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			_, _ = ts.log.Append(ctx, eventlog.Input{User: fmt.Sprint("u", i%5), Data: []byte("1")})
		}
	})
	time.Sleep(300 * time.Millisecond)
	var cw sync.WaitGroup
	for range 4 {
		cw.Go(ts.hub.Close)
	}
	cw.Wait()
	time.Sleep(50 * time.Millisecond) // streams opened after Close end at once
	cancel()
	wg.Wait()
	waitFor(t, wait, "no subscribers", func() bool { return ts.hub.Stats().Subscribers == 0 })
	for u := range 4 {
		assert.Zero(t, ts.hub.Streams(fmt.Sprint("u", u)), "u%d's streams after all left", u)
	}
}

func TestFrameCacheSharesAndBounds(t *testing.T) {
	var c frameCache
	events := make([]eventlog.Event, 3*cacheSlots)
	gen := ulidSeq(t)
	for i := range events {
		events[i] = eventlog.Event{ID: gen(), Name: "n", Data: fmt.Appendf(nil, `{"i":%d}`, i)}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range events {
				b, _, err := c.get(&events[i])
				want, _ := appendEvent(nil, &events[i])
				if err != nil || !bytes.Equal(b, want) {
					t.Errorf("event %d: %q, %v", i, b, err)
					return
				}
			}
		})
	}
	wg.Wait()
	// A hit returns the same bytes without formatting again.
	last := &events[len(events)-1]
	b1, _, _ := c.get(last)
	b2, fresh, _ := c.get(last)
	assert.False(t, fresh)
	assert.Same(t, &b1[0], &b2[0])

	// Big frames stop being cached at the byte budget.
	var big frameCache
	data := []byte(`"` + strings.Repeat("x", 1<<20) + `"`)
	for range 100 {
		e := eventlog.Event{ID: gen(), Data: data}
		_, _, err := big.get(&e)
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, big.bytes.Load(), int64(cacheBudget))
	assert.Positive(t, big.bytes.Load())
}

// ulidSeq returns increasing ids as the log issues them in one millisecond.
func ulidSeq(tb testing.TB) func() eventlog.ID {
	id, err := eventlog.ParseID("01J00000000000000000000000")
	require.NoError(tb, err)
	return func() eventlog.ID {
		for i := len(id) - 1; i >= 6; i-- {
			id[i]++
			if id[i] != 0 {
				break
			}
		}
		return id
	}
}
