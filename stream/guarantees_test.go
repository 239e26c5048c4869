package stream

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
)

// TestDetachedStreamEndsAtTheEarlierEnd: a detached stream whose
// credential expires before the request's deadline ends at the expiry, not
// at the (later) deadline.
func TestDetachedStreamEndsAtTheEarlierEnd(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: time.Hour})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream/{user}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Hour)
		defer cancel()
		ts.h.ServeUntil(w, r.WithContext(ctx), r.PathValue("user"), time.Now().Add(300*time.Millisecond), nil)
	})
	ts.srv.Config.Handler = mux
	c := ts.connect(t, "u", "", "")
	expectConnected(t, c, "u", "")
	_, ok := c.Recv(wait)
	require.False(t, ok, "the stream ends at the credential's expiry")
	require.ErrorIs(t, c.Err(), io.EOF, "cleanly, with the last chunk")
}

// closingHijacker closes the hub while net/http hands the connection over:
// the stream then joins a closed hub (Close raced the request).
type closingHijacker struct {
	http.ResponseWriter
	hub *Hub
}

func (w closingHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hub.Close()
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// TestDetachedJoinAfterCloseEndsCleanly: a detached stream that finds the
// hub closed at join still answers retry: and the last chunk (the browser
// retries, against the next server) and calls done, so the caller's place
// under its stream cap is released.
func TestDetachedJoinAfterCloseEndsCleanly(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Retry: 3 * time.Second, Heartbeat: time.Hour})
	done := make(chan struct{})
	var once sync.Once
	ts.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.h.ServeUntil(closingHijacker{w, ts.hub}, r, "u", time.Time{}, func() { once.Do(func() { close(done) }) })
	})
	c := ts.connect(t, "u", "", "")
	_, ok := c.Recv(wait)
	require.False(t, ok)
	require.ErrorIs(t, c.Err(), io.EOF, "a clean end, with the last chunk")
	assert.Equal(t, 3*time.Second, c.Retry())
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("done was not called")
	}
	assert.Equal(t, HubStats{}, ts.hub.Stats())
}

// plainConn hides the socket under a connection, as a wrapping listener
// may: the close watcher cannot watch it.
type plainConn struct{ net.Conn }

type plainListener struct{ net.Listener }

func (l plainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return plainConn{c}, nil
}

// TestDetachedStreamWithoutASocketNoticesTheClient: a detached stream on
// a connection the watcher cannot watch still ends when its client goes.
func TestDetachedStreamWithoutASocketNoticesTheClient(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	hub := NewHub()
	h := NewHandler(l, hub, Options{Heartbeat: time.Hour})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Serve(w, r, "u") }))
	srv.Listener = plainListener{srv.Listener}
	srv.Start()
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		assert.NoError(t, hub.Wait(ctx))
	})
	ts := &testServer{log: l, hub: hub, h: h, srv: srv}
	c, _, _ := rawStream(t, ts, "u", "HTTP/1.1")
	testkit.WaitFor(t, wait, "stream to join", func() bool { return hub.Stats().Detached == 1 })
	require.NoError(t, c.Close())
	testkit.WaitFor(t, wait, "stream to end", func() bool { return hub.Stats().Subscribers == 0 })
}

// failConn is a connection whose writes fail while fail is set.
type failConn struct {
	net.Conn
	mu      sync.Mutex
	fail    bool
	written []byte
}

func (c *failConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return 0, os.ErrDeadlineExceeded
	}
	c.written = append(c.written, b...)
	return len(b), nil
}

// TestChunkedConnFailedWriteSticks: once a write to the connection failed
// (a chunk may be cut anywhere), nothing more is written, not even the
// last chunk, though the connection would take it again.
func TestChunkedConnFailedWriteSticks(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(w *chunkedConn) error
	}{
		{"flushed chunk", func(w *chunkedConn) error {
			_, err := w.Write([]byte("data: 1\n\n"))
			require.NoError(t, err)
			return w.Flush()
		}},
		{"long write", func(w *chunkedConn) error {
			_, err := w.Write([]byte(strings.Repeat("x", maxChunk)))
			return err
		}},
		{"chunk filled by a write", func(w *chunkedConn) error {
			_, err := w.Write([]byte(strings.Repeat("x", maxChunk-1)))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &failConn{fail: true}
			w := &chunkedConn{c: c}
			require.ErrorIs(t, tc.fail(w), os.ErrDeadlineExceeded)
			c.fail = false
			_, err := w.Write([]byte("data: 2\n\n"))
			require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the failure sticks")
			require.ErrorIs(t, w.Flush(), os.ErrDeadlineExceeded)
			require.ErrorIs(t, w.end(), os.ErrDeadlineExceeded, "no last chunk after a failed write")
			assert.Empty(t, c.written)
		})
	}
}

// TestGapEchoesTheResumePointAsSent: a gap's lastEventId on the first
// read is the resume point as the client sent it (ids parse in either
// case), as the connected event echoes it.
func TestGapEchoesTheResumePointAsSent(t *testing.T) {
	ts := newServer(t, eventlog.Options{MaxEvents: 2}, Options{})
	var ids []eventlog.ID
	for range 5 {
		ids = append(ids, ts.append(t, "u", "", `1`))
	}
	_, err := ts.log.Compact(context.Background())
	require.NoError(t, err)
	raw := strings.ToLower(ids[0].String())
	require.NotEqual(t, ids[0].String(), raw)
	c := ts.connect(t, "u", raw, "")
	expectConnected(t, c, "u", raw)
	expectGap(t, c, gapData{Reason: gapRetention, LastEventID: raw, OldestID: ids[3].String(), ResumeFrom: ids[2].String()})
	expectEvents(t, c, ids[3:]...)
}

// TestIdleHTTP2StreamOutlivesItsWriteTimeout: a stream on net/http (here
// HTTP/2, where a write deadline passing while idle resets the stream)
// stays open while idle for longer than its write timeout, whether the
// heartbeat comes before the deadline (it is pushed forward) or after it
// (it is cleared while idle).
func TestIdleHTTP2StreamOutlivesItsWriteTimeout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       Options
		heartbeats int64 // the stream was idle past its write timeout after these
	}{
		{"heartbeat within half the timeout", Options{Heartbeat: 400 * time.Millisecond, WriteTimeout: 1500 * time.Millisecond}, 5}, // a timer may fire 1.1 s late on a loaded machine
		{"heartbeat after the timeout", Options{Heartbeat: 600 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newHTTP2Server(t, tc.opts)
			l, hub, srv := ts.log, ts.hub, ts.srv
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			require.Equal(t, 2, resp.ProtoMajor)
			c := testkit.Read(ctx, cancel, resp).Bind(t)
			expectConnected(t, c, "u", "")
			testkit.WaitFor(t, wait, "heartbeats", func() bool { return c.Comments() >= tc.heartbeats })
			id, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte("1")})
			require.NoError(t, err)
			expectEvents(t, c, id)
			assert.Equal(t, uint64(0), hub.Stats().SlowClosed)
		})
	}
}

// TestHubCloseCutsAStalledWriter: Close cuts a stream blocked writing to a
// client that stopped reading within closeGrace, not its WriteTimeout, so
// Wait (shutdown) is not held up by it.
func TestHubCloseCutsAStalledWriter(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{WriteTimeout: time.Minute, Heartbeat: time.Hour})
	rawSubscribe(t, ts, "slow") // never read
	waitFor(t, wait, "subscribed", func() bool { return ts.hub.Stats().Subscribers == 1 })
	// Far more than the socket buffers take: the stream ends up blocked
	// in a write.
	big := `"` + strings.Repeat("x", 60<<10) + `"`
	batch := make([]eventlog.Input, 64)
	for i := range batch {
		batch[i] = eventlog.Input{Data: []byte(big)}
	}
	for range 8 {
		_, err := ts.log.AppendBatch(context.Background(), batch)
		require.NoError(t, err)
	}
	waitFor(t, wait, "the stream to be writing", func() bool {
		ts.hub.mu.Lock()
		defer ts.hub.mu.Unlock()
		for s := range ts.hub.subs {
			if s.writing.Load() {
				return true
			}
		}
		return false
	})
	require.Less(t, ts.hub.Stats().Delivered, uint64(8*len(batch)), "the stream is stalled")
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, ts.hub.Wait(ctx), "the stalled stream was cut")
	t.Logf("cut after %v", time.Since(start))
}

// TestCloseWatcherStopsWhenNothingIsWatched: once every detached stream
// has ended, the watcher forgets them and its goroutine and epoll
// descriptor go.
func TestCloseWatcherStopsWhenNothingIsWatched(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: time.Hour})
	c1, _, _ := rawStream(t, ts, "a", "HTTP/1.1")
	rawStream(t, ts, "b", "HTTP/1.1")
	waitFor(t, wait, "streams to join", func() bool { return ts.hub.Stats().Detached == 2 })
	w := ts.h.watcher
	require.NoError(t, c1.Close())
	ts.hub.Close() // ends b from the server's side
	waitFor(t, wait, "streams to end", func() bool { return ts.hub.Stats().Subscribers == 0 })
	waitFor(t, wait+2*watchIdle*time.Millisecond, "the watcher to stop", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.watches) == 0 && w.epfd < 0
	})
}

// TestCloseNoticedAfterAQuietSecond: a client that goes away after its
// stream was idle for longer than the watcher's idle period is still
// noticed at once, not by the next heartbeat's write failing.
func TestCloseNoticedAfterAQuietSecond(t *testing.T) {
	const heartbeat = 2 * watchIdle * time.Millisecond
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: heartbeat})
	c, _, _ := rawStream(t, ts, "u", "HTTP/1.1")
	// The first heartbeat comes after the watcher waited a whole idle
	// period with no event.
	waitFor(t, wait, "a heartbeat", func() bool { return ts.hub.Stats().Heartbeats == 1 })
	require.NoError(t, c.Close())
	// Well before the next heartbeat is due.
	waitFor(t, heartbeat*3/4, "the stream to end", func() bool { return ts.hub.Stats().Subscribers == 0 })
}

// TestCloseWatcherTokensAreNotShared: a watch token still in use is never
// handed out again (the counter wraps after 2^32 streams): each client's
// close ends its own stream.
func TestCloseWatcherTokensAreNotShared(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: time.Hour})
	a, _, _ := rawStream(t, ts, "a", "HTTP/1.1")
	waitFor(t, wait, "a to join", func() bool { return ts.hub.Stats().Detached == 1 })
	w := ts.h.watcher
	w.mu.Lock()
	w.next = 0 // as if it wrapped around to a's token
	w.mu.Unlock()
	rawStream(t, ts, "b", "HTTP/1.1")
	waitFor(t, wait, "b to join", func() bool { return ts.hub.Stats().Detached == 2 })
	require.NoError(t, a.Close())
	waitFor(t, wait, "a's stream to end", func() bool { return ts.hub.Streams("a") == 0 })
	assert.Equal(t, 1, ts.hub.Streams("b"), "b's stream is not ended by a's close")
}
