package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/api"
	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
	"github.com/sselog/sselog/stream"
)

const (
	key    = "client-test-key"
	secret = "client-test-secret"
	wait   = 10 * time.Second
)

// server is a real API over a real log whose handler can be swapped, as a
// restart behind the same address would.
type server struct {
	URL     string
	Log     *eventlog.Log
	handler atomic.Pointer[http.Handler]
	apis    []*api.Server
}

func newServer(t *testing.T) *server {
	t.Helper()
	lg, err := eventlog.Open(filepath.Join(t.TempDir(), "c.db"), eventlog.Options{})
	require.NoError(t, err)
	s := &server{Log: lg}
	s.restart(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*s.handler.Load()).ServeHTTP(w, r)
	}))
	s.URL = ts.URL
	t.Cleanup(func() {
		for _, a := range s.apis {
			a.CloseStreams()
		}
		ts.Close()
		_ = lg.Close()
	})
	return s
}

// restart ends the current API's streams and serves a new one over the
// same log.
func (s *server) restart(t *testing.T) {
	a, err := api.New(s.Log, api.Config{PublisherKey: key, SubscriberSecret: secret,
		Stream: stream.Options{Retry: 20 * time.Millisecond, Heartbeat: time.Hour}})
	require.NoError(t, err)
	h := a.Handler()
	old := s.handler.Swap(&h)
	s.apis = append(s.apis, a)
	if old != nil {
		s.apis[len(s.apis)-2].CloseStreams()
	}
}

func newClient(t *testing.T, url string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.WithPublisherKey(key), client.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	require.NoError(t, err)
	return c
}

func token(t *testing.T, user string) string {
	t.Helper()
	tok, err := api.IssueToken(secret, user, time.Hour, time.Now())
	require.NoError(t, err)
	return tok
}

func TestPublishAndHistory(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s.URL)
	ctx := context.Background()
	id1, err := c.Publish(ctx, "alice", "note", json.RawMessage(`{"a": 1}`), "")
	require.NoError(t, err)
	id2, err := c.Broadcast(ctx, "", json.RawMessage(`"all"`), "b-1")
	require.NoError(t, err)
	again, err := c.Broadcast(ctx, "", json.RawMessage(`"all"`), "b-1")
	require.NoError(t, err)
	assert.Equal(t, id2, again)
	ids, err := c.PublishBatch(ctx, []client.Event{{User: "alice", Data: json.RawMessage(`3`)}, {User: "bob", Event: "x", Data: json.RawMessage(`4`)}}, "")
	require.NoError(t, err)
	require.Len(t, ids, 2)

	p, err := c.History(ctx, "alice", token(t, "alice"), "", 2)
	require.NoError(t, err)
	require.Len(t, p.Events, 2)
	assert.Equal(t, id1, p.Events[0].ID)
	assert.Equal(t, "note", p.Events[0].Event)
	assert.JSONEq(t, `{"a":1}`, string(p.Events[0].Data))
	assert.Equal(t, "message", p.Events[1].Event)
	assert.False(t, p.Events[0].Time.IsZero())
	p, err = c.History(ctx, "alice", token(t, "alice"), p.Next, 0)
	require.NoError(t, err)
	require.Len(t, p.Events, 1)
	assert.Equal(t, ids[0], p.Events[0].ID)

	_, err = c.Publish(ctx, "alice", "gap", json.RawMessage(`1`), "")
	var apiErr *client.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusBadRequest, apiErr.Status)
	assert.Contains(t, apiErr.Message, "reserved")
	_, err = c.History(ctx, "alice", token(t, "bob"), "", 0)
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusForbidden, apiErr.Status)

	_, err = client.New("ftp://x")
	require.Error(t, err)
}

func TestBackupProgress(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s.URL)
	for i := range 50 {
		_, err := c.Publish(context.Background(), "u", "", json.RawMessage(fmt.Sprint(i)), "")
		require.NoError(t, err)
	}
	var buf bytes.Buffer
	var last, total int64
	calls := 0
	require.NoError(t, c.Backup(context.Background(), &buf, func(done, tot int64) { last, total = done, tot; calls++ }))
	assert.Positive(t, calls)
	assert.Equal(t, int64(buf.Len()), last)
	assert.Equal(t, total, last, "progress ends at the announced size")

	bad, err := client.New(s.URL, client.WithPublisherKey("wrong"))
	require.NoError(t, err)
	var apiErr *client.Error
	require.ErrorAs(t, bad.Backup(context.Background(), &bytes.Buffer{}, nil), &apiErr)
	assert.Equal(t, http.StatusUnauthorized, apiErr.Status)
}

// TestTailResumesAcrossRestart: when the server ends the stream (a
// restart), Tail reconnects with the last id it handed to fn and sees
// every event exactly once, in order.
func TestTailResumesAcrossRestart(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tl := startTail(ctx, t, c, eventlog.ZeroID.String())
	var want []string
	publish := func(n int) {
		for range n {
			id, err := c.Publish(context.Background(), "alice", "", json.RawMessage(`1`), "")
			require.NoError(t, err)
			want = append(want, id)
		}
	}
	publish(3)
	recv(t, tl.connected)
	require.Eventually(t, func() bool { return len(tl.events()) == 3 }, wait, time.Millisecond)

	s.restart(t) // ends the stream
	publish(2)   // while Tail is away
	recv(t, tl.connected)
	publish(1)
	require.Eventually(t, func() bool { return len(tl.events()) == 6 }, wait, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-tl.done, context.Canceled)
	var got []string
	for _, m := range tl.events() {
		got = append(got, m.ID)
	}
	assert.Equal(t, want, got, "every event once, in order, across the reconnect")
}

// TestTailResumesWithNoIDOfItsOwn: a Tail that starts on the live tail
// (no id, or one the server cannot use) and loses its stream before any
// event reconnects from where the stream stood (the connected or gap
// event's resumeFrom), so an event published while it was away still
// reaches fn. It reconnected to the live tail and lost that event before.
func TestTailResumesWithNoIDOfItsOwn(t *testing.T) {
	for _, start := range []string{"", "garbage"} {
		t.Run(fmt.Sprintf("from %q", start), func(t *testing.T) {
			s := newServer(t)
			gate := make(chan struct{})
			var streams atomic.Int32
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/stream") && streams.Add(1) == 2 {
					<-gate // the reconnect waits until the test has published
				}
				(*s.handler.Load()).ServeHTTP(w, r)
			}))
			defer front.Close()
			c := newClient(t, front.URL)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tl := startTail(ctx, t, c, start)
			recv(t, tl.connected)
			s.restart(t) // ends the stream before any event
			require.Eventually(t, func() bool { return streams.Load() == 2 }, wait, time.Millisecond)
			_, err := c.Publish(context.Background(), "alice", "", json.RawMessage(`"while away"`), "")
			require.NoError(t, err)
			close(gate)
			recv(t, tl.connected)
			_, err = c.Publish(context.Background(), "alice", "", json.RawMessage(`"after"`), "")
			require.NoError(t, err)
			require.Eventually(t, func() bool { return len(tl.events()) == 2 }, wait, time.Millisecond)
			cancel()
			require.ErrorIs(t, <-tl.done, context.Canceled)
			var got []string
			for _, m := range tl.events() {
				got = append(got, m.Data)
			}
			assert.Equal(t, []string{`"while away"`, `"after"`}, got)
		})
	}
}

// TestTailStatuses: Tail stops at a 204 (the server's polite stop) and
// retries a 404 (a proxy's answer while a deploy is under way), as
// sselog.js does. It retried a 204 forever and gave up at a 404.
func TestTailStatuses(t *testing.T) {
	for _, tc := range []struct {
		status int
		stops  bool
	}{{http.StatusNoContent, true}, {http.StatusNotFound, false}, {http.StatusServiceUnavailable, false}} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			var n atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 || tc.stops {
					w.WriteHeader(tc.status)
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = w.Write([]byte("id: 01J0000000000000000000000A\ndata: 1\n\n"))
			}))
			defer ts.Close()
			c, err := client.New(ts.URL, client.WithBackoff(time.Millisecond, 10*time.Millisecond))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			err = c.Tail(ctx, "u", "", "", func(sse.Message) error { return client.ErrStop })
			if !tc.stops {
				require.NoError(t, err, "retried, then the event")
				assert.Equal(t, int32(2), n.Load())
				return
			}
			var apiErr *client.Error
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tc.status, apiErr.Status)
			assert.Equal(t, int32(1), n.Load(), "asked once")
		})
	}
}

// tailRun is a Tail of alice's stream running until its context ends.
type tailRun struct {
	mu        sync.Mutex
	got       []sse.Message // events, the server's own left out
	connected chan struct{} // one per connected event
	done      chan error    // what Tail returned
}

func startTail(ctx context.Context, t *testing.T, c *client.Client, start string) *tailRun {
	tl := &tailRun{connected: make(chan struct{}, 10), done: make(chan error, 1)}
	go func() {
		tl.done <- c.Tail(ctx, "alice", token(t, "alice"), start, func(m sse.Message) error {
			switch m.Event {
			case client.EventConnected:
				tl.connected <- struct{}{}
			case client.EventGap:
			default:
				tl.mu.Lock()
				tl.got = append(tl.got, m)
				tl.mu.Unlock()
			}
			return nil
		})
	}()
	return tl
}

func (tl *tailRun) events() []sse.Message {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return slices.Clone(tl.got)
}

// TestTailStops: fn's error and ErrStop end Tail; a refused token ends it
// at once instead of retrying forever.
func TestTailStops(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s.URL)
	_, err := c.Publish(context.Background(), "alice", "", json.RawMessage(`1`), "")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	boom := errors.New("boom")
	err = c.Tail(ctx, "alice", token(t, "alice"), eventlog.ZeroID.String(), func(m sse.Message) error {
		if m.Event == client.EventConnected {
			return nil
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	err = c.Tail(ctx, "alice", token(t, "alice"), eventlog.ZeroID.String(), func(sse.Message) error { return client.ErrStop })
	require.NoError(t, err)
	err = c.Tail(ctx, "alice", token(t, "bob"), "", func(sse.Message) error { return nil })
	var apiErr *client.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusForbidden, apiErr.Status)
}

// TestTailIdleReconnect: a stream that goes silent (no heartbeat either,
// as after a dead connection) is dropped and reopened.
func TestTailIdleReconnect(t *testing.T) {
	var conns atomic.Int32
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer silent.Close()
	c, err := client.New(silent.URL, client.WithStreamIdleTimeout(50*time.Millisecond), client.WithBackoff(time.Millisecond, 10*time.Millisecond))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Tail(ctx, "u", "", "", func(sse.Message) error { return nil }) }()
	require.Eventually(t, func() bool { return conns.Load() >= 3 }, wait, 5*time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func recv(t *testing.T, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(wait):
		t.Fatal("timed out")
	}
}
