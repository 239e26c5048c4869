package stream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/sse"
)

// TestResumeUnderLoad is invariant 3 end to end: subscribers that keep
// dropping and resuming (by header and by query, at random points) while
// publishers write end up with exactly what the log holds for them.
func TestResumeUnderLoad(t *testing.T) {
	const (
		users       = 10
		subscribers = 50
		publishers  = 5
		events      = 10000
	)
	ts := newServer(t, eventlog.Options{}, Options{})

	type result struct {
		user       string
		got        []sse.Message
		reconnects int
	}
	results := make([]*result, subscribers)
	var wg sync.WaitGroup
	for i := range subscribers {
		r := &result{user: fmt.Sprint("user-", i%users)}
		results[i] = r
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			r.got, r.reconnects = subscribeUntilEnd(t, ts, r.user, rng)
		})
	}

	var published atomic.Int64
	var pwg sync.WaitGroup
	for p := range publishers {
		pwg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 7))
			for n := range events / publishers {
				user := ""
				if rng.IntN(5) != 0 { // one in five is a broadcast
					user = fmt.Sprint("user-", rng.IntN(users))
				}
				in := eventlog.Input{User: user, Name: "n", Data: fmt.Appendf(nil, `{"p":%d,"n":%d}`, p, n)}
				if _, err := ts.log.Append(context.Background(), in); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				published.Add(1)
			}
		})
	}
	pwg.Wait()
	require.EqualValues(t, events, published.Load())
	ts.append(t, "", "end", `"end"`)

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("subscribers did not finish")
	}

	reconnects := 0
	for _, r := range results {
		want := allFor(t, ts.log, r.user)
		require.Equal(t, len(want), len(r.got), "%s: event count", r.user)
		for j := range want {
			require.Equal(t, want[j], r.got[j], "%s: event %d", r.user, j)
		}
		reconnects += r.reconnects
	}
	t.Logf("%d subscribers, %d reconnects, %d events each on average", subscribers, reconnects, len(results[0].got))
	assert.Greater(t, reconnects, subscribers*5, "the test did disconnect often")
	st := ts.hub.Stats()
	assert.Zero(t, st.Gaps)
	assert.Positive(t, st.Replayed)
	assert.Greater(t, st.Delivered, st.Replayed)
}

// subscribeUntilEnd reads user's stream from the oldest event, dropping the
// connection after a random number of events and resuming from the last id
// seen, until the "end" broadcast arrives. It returns every event received.
func subscribeUntilEnd(t *testing.T, ts *testServer, user string, rng *rand.Rand) ([]sse.Message, int) {
	var got []sse.Message
	last := eventlog.ZeroID.String()
	for reconnects := 0; ; reconnects++ {
		header, query := last, ""
		if rng.IntN(2) == 0 {
			header, query = "", last // a new EventSource: query only
		}
		c, err := ts.dial(user, header, query)
		if err != nil {
			t.Errorf("%s: dial: %v", user, err)
			return got, reconnects
		}
		budget := rng.IntN(300) // 0: drop right after connected
		for n := -1; n < budget; n++ {
			m, ok := nextOrFail(t, c)
			if !ok {
				c.Close()
				return got, reconnects
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
					return got, reconnects
				}
			}
		}
		c.Close()
		if rng.IntN(4) == 0 {
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
	}
}

func nextOrFail(t *testing.T, c *sseClient) (sse.Message, bool) {
	select {
	case m, ok := <-c.Events():
		if !ok {
			t.Errorf("stream ended: %v", c.Err())
		}
		return m, ok
	case <-time.After(wait):
		t.Errorf("no event within %v", wait)
		return sse.Message{}, false
	}
}

// allFor returns what user's stream must have delivered: every event the
// log holds for user, as the wire shows it.
func allFor(tb testing.TB, l *eventlog.Log, user string) []sse.Message {
	tb.Helper()
	var out []sse.Message
	for _, e := range eventlogtest.Events(tb, l, user) {
		name := e.Name
		if name == "" {
			name = "message"
		}
		out = append(out, sse.Message{ID: e.ID.String(), Event: name, Data: string(e.Data)})
	}
	return out
}
