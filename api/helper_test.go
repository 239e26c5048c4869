package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/stream"
)

// Keys used by tests that run with auth on.
const (
	testKey    = "publisher-key-for-tests"
	testSecret = "subscriber-secret-for-tests"
)

// testAPI is a real server over a real log in a temp dir.
type testAPI struct {
	URL string
	Log *eventlog.Log
	Srv *Server
	TS  *httptest.Server
}

// withKeys turns auth on.
func withKeys(c *Config) { c.PublisherKey, c.SubscriberSecret = testKey, testSecret }

// newTestAPI starts a server; opts adjust its config. At cleanup it ends
// the streams, stops the server, closes the log and runs bbolt's
// consistency check on the file.
func newTestAPI(t testing.TB, opts ...func(*Config)) *testAPI {
	t.Helper()
	return newTestAPILog(t, eventlog.Options{}, opts...)
}

// newTestAPILog is newTestAPI with the log's options.
func newTestAPILog(t testing.TB, logOpts eventlog.Options, opts ...func(*Config)) *testAPI {
	t.Helper()
	lg := eventlogtest.Open(t, logOpts)
	cfg := Config{Stream: stream.Options{Heartbeat: time.Hour}}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(lg, cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.CloseStreams()
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.WaitStreams(ctx); err != nil {
			t.Errorf("streams still open: %v", err)
		}
	})
	return &testAPI{URL: ts.URL, Log: lg, Srv: srv, TS: ts}
}

var checkFile = eventlogtest.Check

// answer is a response read whole.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (a answer) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(a.Body, &m), "body %q", a.Body)
	return m
}

// ErrorMsg requires a JSON error body and returns its message.
func (a answer) ErrorMsg(t testing.TB) string {
	t.Helper()
	require.True(t, strings.HasPrefix(a.Header.Get("Content-Type"), "application/json"),
		"Content-Type %q, body %q", a.Header.Get("Content-Type"), a.Body)
	var e struct {
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(a.Body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&e), "body %q", a.Body)
	require.NotEmpty(t, e.Error)
	return e.Error
}

// do sends one request. header holds "Name: value" pairs.
func (a *testAPI) do(t testing.TB, method, path string, body io.Reader, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+path, body)
	require.NoError(t, err)
	for _, h := range header {
		k, v, ok := strings.Cut(h, ":")
		require.True(t, ok, "header %q", h)
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := a.TS.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// publish posts body to path with the publisher key and returns the answer.
func (a *testAPI) publish(t testing.TB, path, body string, header ...string) answer {
	t.Helper()
	return a.do(t, http.MethodPost, path, strings.NewReader(body), append([]string{"Authorization: Bearer " + testKey}, header...)...)
}

// stats returns the log's figures, for before/after comparisons of what
// is stored. The count of idempotent repeats is left out: a repeat stores
// nothing (TestPublishedCountsStoredEventsOnly checks that counter).
func (a *testAPI) stats(t testing.TB) eventlog.Stats {
	t.Helper()
	st, err := a.Log.Stats()
	require.NoError(t, err)
	st.Repeats = 0
	return st
}

// token issues a subscriber token for user valid for an hour.
func token(t testing.TB, user string) string {
	t.Helper()
	tok, err := IssueToken(testSecret, user, time.Hour, time.Now())
	require.NoError(t, err)
	return tok
}

var _ Store = (*eventlog.Log)(nil)
