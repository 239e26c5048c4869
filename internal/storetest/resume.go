package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/sse"
	"github.com/sselog/sselog/stream"
)

// Invariant 3 end to end through the real SSE handler: subscribers that
// keep dropping and resuming (by header and by query, at random points)
// while publishers write end up with exactly what the store holds for
// them, and no gap.
func testResumeUnderLoad(t *testing.T, open Opener) {
	const (
		users       = 5
		subscribers = 15
		publishers  = 4
		events      = 1200
	)
	s := open(t, Options{})
	hub := stream.NewHub()
	h := stream.NewHandler(s, hub, stream.Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream/{user}", func(w http.ResponseWriter, r *http.Request) { h.Serve(w, r, r.PathValue("user")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { hub.Close(); srv.Close() })

	type result struct {
		user string
		got  []sse.Message
	}
	results := make([]*result, subscribers)
	var wg sync.WaitGroup
	for i := range subscribers {
		r := &result{user: fmt.Sprint("user-", i%users)}
		results[i] = r
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			r.got = subscribeUntilEnd(t, srv.URL, r.user, rng)
		})
	}
	var pwg sync.WaitGroup
	for p := range publishers {
		pwg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 7))
			for n := range events / publishers {
				user := ""
				if rng.IntN(5) != 0 {
					user = fmt.Sprint("user-", rng.IntN(users))
				}
				in := eventlog.Input{User: user, Name: "n", Data: fmt.Appendf(nil, `{"p":%d,"n":%d}`, p, n)}
				if _, err := s.Append(context.Background(), in); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	pwg.Wait()
	_, err := s.Append(context.Background(), eventlog.Input{Name: "end", Data: []byte(`"end"`)})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * wait):
		t.Fatal("subscribers did not finish")
	}
	for _, r := range results {
		evs, gap := ReadAll(t, s, r.user, eventlog.ZeroID, eventlog.MaxLimit)
		require.Nil(t, gap)
		require.Len(t, r.got, len(evs), "%s: event count", r.user)
		for j, e := range evs {
			name := e.Name
			if name == "" {
				name = "message"
			}
			require.Equal(t, sse.Message{ID: e.ID.String(), Event: name, Data: string(e.Data)}, r.got[j], "%s: event %d", r.user, j)
		}
	}
	assert.Zero(t, hub.Stats().Gaps)
}

// subscribeUntilEnd reads user's stream from the oldest event, dropping
// the connection after a random number of events and resuming from the
// last id seen, until the "end" broadcast arrives.
func subscribeUntilEnd(t *testing.T, base, user string, rng *rand.Rand) []sse.Message {
	var got []sse.Message
	last := eventlog.ZeroID.String()
	for {
		u := base + "/stream/" + url.PathEscape(user)
		hdr := http.Header{}
		if rng.IntN(2) == 0 {
			hdr.Set("Last-Event-ID", last)
		} else {
			u += "?lastEventId=" + url.QueryEscape(last) // a new EventSource
		}
		c, err := testkit.Dial(http.DefaultClient, u, hdr)
		if err != nil {
			t.Errorf("%s: dial: %v", user, err)
			return got
		}
		budget := rng.IntN(150)
		for n := -1; n < budget; n++ {
			var m sse.Message
			var ok bool
			select {
			case m, ok = <-c.C():
			case <-time.After(wait):
				t.Errorf("%s: no event within %v", user, wait)
				c.Close()
				return got
			}
			if !ok {
				t.Errorf("%s: stream ended: %v", user, c.Err())
				c.Close()
				return got
			}
			switch {
			case n == -1 && m.Event != "connected":
				t.Errorf("%s: first event %q", user, m.Event)
			case n == -1:
			case m.Event == "gap":
				t.Errorf("%s: unexpected gap %s", user, m.Data)
			default:
				got = append(got, m)
				last = m.ID
				if m.Event == "end" {
					c.Close()
					return got
				}
			}
		}
		c.Close()
	}
}
