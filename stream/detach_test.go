package stream

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/sse"
)

// rawStream opens user's stream over a bare TCP connection with the given
// protocol version and returns the connection and a reader positioned
// after the connected event.
func rawStream(tb testing.TB, ts *testServer, user, proto string) (net.Conn, *bufio.Reader, *http.Response) {
	tb.Helper()
	c, err := net.Dial("tcp", ts.srv.Listener.Addr().String())
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close() })
	require.NoError(tb, c.SetDeadline(time.Now().Add(wait)))
	_, err = fmt.Fprintf(c, "GET /stream/%s %s\r\nHost: sselog\r\n\r\n", user, proto)
	require.NoError(tb, err)
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(tb, err)
	require.Equal(tb, http.StatusOK, resp.StatusCode)
	m, err := sse.NewParser(resp.Body).Next()
	require.NoError(tb, err)
	require.Equal(tb, "connected", m.Event)
	require.NoError(tb, c.SetDeadline(time.Time{}))
	return c, br, resp
}

// TestIdleStreamsLeaveNetHTTP holds idle HTTP/1.1 streams and checks
// what each costs the server: one parked goroutine (net/http kept two per
// connection: the handler and its background read) and, without the race
// detector, a few KiB of heap and stack (net/http's buffers and stacks
// alone were ~27 KiB).
func TestIdleStreamsLeaveNetHTTP(t *testing.T) {
	const n = 400
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: time.Hour})
	warm, _, _ := rawStream(t, ts, "warm", "HTTP/1.1")
	require.NoError(t, warm.Close())
	testkit.WaitFor(t, wait, "warm-up stream to end", func() bool { return ts.hub.Stats().Subscribers == 0 })

	before := memNow()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i], _, _ = rawStream(t, ts, fmt.Sprint("u", i), "HTTP/1.1")
	}
	testkit.WaitFor(t, wait, "streams to join", func() bool { return ts.hub.Stats().Subscribers == n })
	require.Equal(t, int64(n), ts.hub.Stats().Detached)
	var g int
	testkit.WaitFor(t, wait, "one goroutine per idle stream", func() bool {
		g = runtime.NumGoroutine() - int(before.goroutines)
		return g <= n+n/20
	})
	after := memNow()
	perSub := float64(after.heap+after.stack-before.heap-before.stack) / n
	t.Logf("per idle stream: %.2f goroutines, %.0f B heap+stack", float64(g)/n, perSub)
	if !raceEnabled {
		assert.Less(t, perSub, 10240.0, "heap and stack per idle stream (the target is 10 KiB of RSS)")
	}

	// They are streams still: an event reaches one, and closing them
	// ends them.
	id := ts.append(t, "u7", "", `"x"`)
	require.NoError(t, conns[7].SetReadDeadline(time.Now().Add(wait)))
	var buf [512]byte
	got := ""
	for !strings.Contains(got, id.String()) {
		k, err := conns[7].Read(buf[:])
		require.NoError(t, err)
		got += string(buf[:k])
	}
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	testkit.WaitFor(t, wait, "streams to end", func() bool { return ts.hub.Stats().Subscribers == 0 })
}

// TestDetachedStreamNoticesTheClient: a client closing (or half-closing)
// its connection ends its stream with no read parked on it; bytes a client
// sends do not.
func TestDetachedStreamNoticesTheClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(c net.Conn) error
		ends bool
	}{
		{"close", func(c net.Conn) error { return c.Close() }, true},
		{"half-close", func(c net.Conn) error { return c.(*net.TCPConn).CloseWrite() }, true},
		{"reset", func(c net.Conn) error {
			_ = c.(*net.TCPConn).SetLinger(0)
			return c.Close()
		}, true},
		{"bytes then close", func(c net.Conn) error {
			if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
				return err
			}
			return c.Close()
		}, true},
		{"bytes", func(c net.Conn) error {
			_, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			return err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newServer(t, eventlog.Options{}, Options{Heartbeat: time.Hour})
			c, br, resp := rawStream(t, ts, "u", "HTTP/1.1")
			require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
			testkit.WaitFor(t, wait, "stream to join", func() bool { return ts.hub.Stats().Subscribers == 1 })
			require.NoError(t, tc.act(c))
			if tc.ends {
				testkit.WaitFor(t, wait, "stream to end", func() bool { return ts.hub.Stats().Subscribers == 0 })
				return
			}
			id := ts.append(t, "u", "", `1`)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
			m, err := sse.NewParser(resp.Body).Next()
			require.NoError(t, err)
			assert.Equal(t, id.String(), m.ID)
			assert.Equal(t, int64(1), ts.hub.Stats().Subscribers)
			_ = br
		})
	}
}

// TestHTTP10StreamStaysOnNetHTTP: without chunked coding a stream is
// served by net/http, to the end of the connection.
func TestHTTP10StreamStaysOnNetHTTP(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: time.Hour})
	c, _, resp := rawStream(t, ts, "u", "HTTP/1.0")
	assert.Nil(t, resp.TransferEncoding)
	assert.Equal(t, int64(0), ts.hub.Stats().Detached)
	id := ts.append(t, "u", "", `1`)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
	p := sse.NewParser(resp.Body)
	m, err := p.Next()
	require.NoError(t, err)
	assert.Equal(t, id.String(), m.ID)
	ts.hub.Close()
	_, err = p.Next()
	assert.ErrorIs(t, err, io.EOF)
}

// TestChunkedConnFraming: what a detached stream writes is valid chunked
// coding carrying exactly the bytes written, each Flush a chunk and long
// writes split.
func TestChunkedConnFraming(t *testing.T) {
	big := strings.Repeat("x", 3*maxChunk+5)
	half := strings.Repeat("y", maxChunk/2+1)
	for _, tc := range []struct {
		name   string
		writes []string // "" = Flush
		chunks int
	}{
		{"one write", []string{"data: 1\n\n", ""}, 1},
		{"writes then flush", []string{"a", "b", "c", ""}, 1},
		{"flushes", []string{"a", "", "b", "", "", "c", ""}, 3},
		{"empty flush", []string{"", ""}, 0},
		{"long write", []string{big, ""}, 1},
		{"short, long, short", []string{"a", big, "b", ""}, 3},
		{"many writes", []string{half, half, half, half, half, ""}, 3},
		{"unflushed dropped at end", []string{"a", "", "lost"}, 1},
		{"flush after a write filled a chunk", []string{half, half, "", "z", ""}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := net.Pipe()
			w := &chunkedConn{c: srv}
			read := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(cli); read <- b }()
			want := ""
			pending := ""
			for _, s := range tc.writes {
				if s == "" {
					require.NoError(t, w.Flush())
					want += pending
					pending = ""
					continue
				}
				_, err := w.Write([]byte(s))
				require.NoError(t, err)
				pending += s
			}
			require.NoError(t, w.end())
			require.NoError(t, srv.Close())
			raw := <-read
			assert.Equal(t, tc.chunks+1, bytes.Count(raw, []byte("\r\n"))/2, "chunks (and the last)")
			assert.True(t, bytes.HasSuffix(raw, []byte("0\r\n\r\n")))
			body, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(raw)))
			require.NoError(t, err)
			assert.Equal(t, want, string(body))
		})
	}
}

// TestDetachedStreamEndsAtTheRequestDeadline: the handler's context ends
// when the handler returns, so a detached stream keeps its deadline (a
// caller may bound a stream by, say, its token's expiry) and ends cleanly
// there.
func TestDetachedStreamEndsAtTheRequestDeadline(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: time.Hour})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream/{user}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second) // long enough to send connected first on a loaded machine
		defer cancel()
		ts.h.Serve(w, r.WithContext(ctx), r.PathValue("user"))
	})
	ts.srv.Config.Handler = mux
	c := ts.connect(t, "u", "", "")
	expectConnected(t, c, "u", "")
	_, ok := c.Recv(wait)
	require.False(t, ok, "the stream ends")
	require.ErrorIs(t, c.Err(), io.EOF, "cleanly, with the last chunk")
	testkit.WaitFor(t, wait, "the stream to leave the hub", func() bool { return ts.hub.Stats().Subscribers == 0 })
}

// TestDetachedStreamOverTLS: HTTP/1.1 over TLS is detached too (the
// watcher watches the socket under the TLS connection), and ends cleanly.
func TestDetachedStreamOverTLS(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	hub := NewHub()
	h := NewHandler(l, hub, Options{Heartbeat: time.Hour})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Serve(w, r, "u") }))
	srv.StartTLS() // HTTP/1.1 only: EnableHTTP2 is off
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		assert.NoError(t, hub.Wait(ctx))
	})
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	require.Equal(t, 1, resp.ProtoMajor)
	c := testkit.Read(ctx, cancel, resp).Bind(t)
	expectConnected(t, c, "u", "")
	id, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte("1")})
	require.NoError(t, err)
	expectEvents(t, c, id)
	// The server counts a delivery after its write returns; the client
	// may read the bytes first.
	testkit.WaitFor(t, wait, "the delivery to be counted", func() bool { return hub.Stats().Delivered == 1 })
	assert.Equal(t, HubStats{Subscribers: 1, Detached: 1, Delivered: 1}, hub.Stats())
	t.Logf("goroutines: %d more with one stream open", runtime.NumGoroutine()-base)

	hub.Close()
	_, ok := c.Recv(wait)
	require.False(t, ok)
	require.ErrorIs(t, c.Err(), io.EOF, "the stream ended cleanly")
}

// TestDetachedStreamSaysItCloses: a detached stream closes its connection
// when it ends, so its response says so. Said keep-alive, a client's pool
// took the connection back at the last chunk, and a publish sent on it
// just as the server closed it failed (a POST is not retried on its own).
// A stream net/http keeps (HTTP/1.0 here) is framed by net/http as ever.
func TestDetachedStreamSaysItCloses(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: time.Hour})
	_, _, resp := rawStream(t, ts, "u", "HTTP/1.1")
	assert.True(t, resp.Close, "Connection: close") // ReadResponse takes the header out
	testkit.WaitFor(t, wait, "the stream to be detached", func() bool { return ts.hub.Stats().Detached == 1 })

	// A client reading a stream to its end then sends its next request
	// on a new connection.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream/{user}", func(w http.ResponseWriter, r *http.Request) {
		ts.h.ServeUntil(w, r, r.PathValue("user"), time.Now().Add(200*time.Millisecond), nil)
	})
	ts.srv.Config.Handler = mux
	hc := &http.Client{Transport: &http.Transport{}, Timeout: wait}
	defer hc.CloseIdleConnections()
	reused := make([]bool, 0, 2)
	for range 2 {
		trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = append(reused, ci.Reused) }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, ts.srv.URL+"/stream/u", nil)
		require.NoError(t, err)
		r, err := hc.Do(req)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, r.Body)
		require.NoError(t, err, "the stream ends cleanly, with the last chunk")
		require.NoError(t, r.Body.Close())
	}
	assert.Equal(t, []bool{false, false}, reused)
}

// TestHalfCloseEndsTheStreamCleanly: a client that half-closes its
// connection (FIN after its request) but goes on reading has not gone
// away: its stream ends, as net/http ends a request whose client
// half-closed, but cleanly, with the last chunk, as net/http ends it. The
// detached stream took the FIN for a vanished client and cut the body
// mid-stream (an unexpected EOF to the reader).
func TestHalfCloseEndsTheStreamCleanly(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: time.Hour})
	c, _, resp := rawStream(t, ts, "u", "HTTP/1.1")
	waitFor(t, wait, "the stream to join", func() bool { return ts.hub.Stats().Detached == 1 })
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
	_, err := io.Copy(io.Discard, resp.Body)
	require.NoError(t, err, "the body ends with its last chunk")
	waitFor(t, wait, "the stream to leave", func() bool { return ts.hub.Stats().Subscribers == 0 })
}
