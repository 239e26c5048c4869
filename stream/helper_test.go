package stream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/sse"
)

var openLog = eventlogtest.Open

// testServer is a real log behind a real HTTP server routing
// /stream/{user} to a Handler.
type testServer struct {
	log *eventlog.Log
	hub *Hub
	h   *Handler
	srv *httptest.Server
}

// newServer starts one; wrap, if given, turns the log into the Source.
func newServer(tb testing.TB, lopts eventlog.Options, opts Options, wrap ...func(*eventlog.Log) Source) *testServer {
	tb.Helper()
	ts := &testServer{log: openLog(tb, lopts), hub: NewHub()}
	var src Source = ts.log
	for _, w := range wrap {
		src = w(ts.log)
	}
	ts.h = NewHandler(src, ts.hub, opts)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream/{user}", func(w http.ResponseWriter, r *http.Request) {
		ts.h.Serve(w, r, r.PathValue("user"))
	})
	ts.srv = httptest.NewServer(mux)
	tb.Cleanup(func() {
		ts.hub.Close()
		ts.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := ts.hub.Wait(ctx); err != nil {
			tb.Errorf("detached streams still open: %v", err)
		}
	})
	return ts
}

func (ts *testServer) append(tb testing.TB, user, name, data string) eventlog.ID {
	tb.Helper()
	id, err := ts.log.Append(context.Background(), eventlog.Input{User: user, Name: name, Data: []byte(data)})
	require.NoError(tb, err)
	return id
}

// sseClient is one subscriber: a real HTTP request whose body the Parser
// reads in its own goroutine.
type sseClient struct {
	resp     *http.Response
	p        *sse.Parser
	events   chan sse.Message
	comments atomic.Int64
	cancel   context.CancelFunc
	err      error // the parser's final error, set before events closes
	once     sync.Once
}

// connect opens user's stream with the given Last-Event-ID header and
// lastEventId query ("" = absent).
func (ts *testServer) connect(tb testing.TB, user, header, query string) *sseClient {
	tb.Helper()
	c, err := ts.dial(user, header, query)
	require.NoError(tb, err)
	tb.Cleanup(c.close)
	require.Equal(tb, http.StatusOK, c.resp.StatusCode)
	require.Equal(tb, "text/event-stream", c.resp.Header.Get("Content-Type"))
	return c
}

func (ts *testServer) dial(user, header, query string) (*sseClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	u := ts.srv.URL + "/stream/" + url.PathEscape(user)
	if query != "" {
		u += "?lastEventId=" + url.QueryEscape(query)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if header != "" {
		req.Header.Set("Last-Event-ID", header)
	}
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	return startClient(ctx, cancel, resp), nil
}

// startClient parses resp's body in a goroutine until it ends or ctx does.
func startClient(ctx context.Context, cancel context.CancelFunc, resp *http.Response) *sseClient {
	c := &sseClient{resp: resp, p: sse.NewParser(resp.Body), events: make(chan sse.Message, 64), cancel: cancel}
	c.p.OnComment = func(string) { c.comments.Add(1) }
	go c.read(ctx)
	return c
}

func (c *sseClient) read(ctx context.Context) {
	defer close(c.events)
	for {
		m, err := c.p.Next()
		if err != nil {
			c.err = err
			return
		}
		select {
		case c.events <- m:
		case <-ctx.Done():
			return
		}
	}
}

// next returns the next event; false when the stream ended. It fails the
// test if nothing comes within d.
func (c *sseClient) next(tb testing.TB, d time.Duration) (sse.Message, bool) {
	tb.Helper()
	select {
	case m, ok := <-c.events:
		return m, ok
	case <-time.After(d):
		tb.Fatalf("no event within %v", d)
		return sse.Message{}, false
	}
}

// quiet reports that no event arrives within d.
func (c *sseClient) quiet(d time.Duration) bool {
	select {
	case <-c.events:
		return false
	case <-time.After(d):
		return true
	}
}

func (c *sseClient) close() {
	c.once.Do(func() {
		c.cancel()
		_ = c.resp.Body.Close()
		for range c.events { // wait for the reader goroutine
		}
	})
}

var waitFor = testkit.WaitFor
