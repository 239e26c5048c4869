package stream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/internal/testkit"
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
	return newServerOn(tb, openLog(tb, lopts), opts, wrap...)
}

// newServerOn is newServer over a log the test opened.
func newServerOn(tb testing.TB, l *eventlog.Log, opts Options, wrap ...func(*eventlog.Log) Source) *testServer {
	tb.Helper()
	ts := &testServer{log: l, hub: NewHub()}
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

// newHTTP2Server is a log behind an HTTP/2 (TLS) server streaming user
// "u" at every path: net/http keeps HTTP/2 streams, never detached.
func newHTTP2Server(tb testing.TB, opts Options) *testServer {
	tb.Helper()
	ts := &testServer{log: openLog(tb, eventlog.Options{}), hub: NewHub()}
	ts.h = NewHandler(ts.log, ts.hub, opts)
	ts.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ts.h.Serve(w, r, "u") }))
	ts.srv.EnableHTTP2 = true
	ts.srv.StartTLS()
	tb.Cleanup(func() { ts.hub.Close(); ts.srv.Close() })
	return ts
}

func (ts *testServer) append(tb testing.TB, user, name, data string) eventlog.ID {
	tb.Helper()
	id, err := ts.log.Append(context.Background(), eventlog.Input{User: user, Name: name, Data: []byte(data)})
	require.NoError(tb, err)
	return id
}

// sseClient is one subscriber: a real HTTP request whose body the test
// kit's parser reads in its own goroutine.
type sseClient = testkit.Stream

// connect opens user's stream with the given Last-Event-ID header and
// lastEventId query ("" = absent).
func (ts *testServer) connect(tb testing.TB, user, header, query string) *sseClient {
	tb.Helper()
	c, err := ts.dial(user, header, query)
	require.NoError(tb, err)
	c.Bind(tb)
	require.Equal(tb, http.StatusOK, c.Resp.StatusCode)
	require.Equal(tb, "text/event-stream", c.Resp.Header.Get("Content-Type"))
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
	return testkit.Read(ctx, cancel, resp), nil
}

var waitFor = testkit.WaitFor
