package e2e

// Helpers of the fault-injection tests (fault_*_test.go): publishers that
// record what was acknowledged and what was only attempted, and
// subscribers that record every event and resume after each disconnect.
// fault_count_test.go holds the final count against the log file.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

// soak reports whether the long form of the fault tests was asked for.
func soak() bool { return os.Getenv("SSELOG_SOAK") == "1" }

// payload is the data of every event a fault test publishes: who sent it
// and its sequence number, so each event in the log traces back to one
// attempt.
type payload struct {
	P string `json:"p"`
	N int    `json:"n"`
}

func (p payload) tag() string { return fmt.Sprintf("%s/%d", p.P, p.N) }

// attempt is one publish: its target ("" = broadcast) and, once the
// server acknowledged it, its id.
type attempt struct {
	user  string
	id    string // "" until acknowledged
	keyed bool   // retried under one Idempotency-Key until acknowledged
}

// publisher publishes events round-robin to its targets until stopped.
// A keyed publisher retries each event under the same Idempotency-Key
// until it is acknowledged, so each of its events must be stored exactly
// once; an unkeyed one moves on after an error, so an event whose ack was
// cut may be stored or not, but at most once.
type publisher struct {
	name    string
	c       *client.Client
	targets []string
	keyed   bool
	pause   time.Duration // between publishes; 0 = back to back

	stop    atomic.Bool
	done    chan struct{}
	mu      sync.Mutex
	tries   map[string]*attempt // by payload tag
	order   []string            // tags in publish order
	acked   int
	failed  int
	deduped int      // keyed retries answered with the id of an earlier attempt
	refused []string // 4xx answers: never expected
}

func newPublisher(name string, c *client.Client, targets []string, keyed bool) *publisher {
	return &publisher{name: name, c: c, targets: targets, keyed: keyed, done: make(chan struct{}), tries: map[string]*attempt{}}
}

// run publishes until Stop; ctx bounds a keyed publisher's retries.
func (p *publisher) run(ctx context.Context) {
	defer close(p.done)
	for n := 0; !p.stop.Load() && ctx.Err() == nil; n++ {
		pl := payload{P: p.name, N: n}
		a := p.track(pl, p.targets[n%len(p.targets)])
		p.publish(ctx, pl, a)
		if p.pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(p.pause):
			}
		}
	}
}

// track records an attempt to publish pl to user.
func (p *publisher) track(pl payload, user string) *attempt {
	a := &attempt{user: user, keyed: p.keyed}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tries[pl.tag()] = a
	p.order = append(p.order, pl.tag())
	return a
}

// ackedFor lists the acknowledged ids each of users can read (their own
// events and broadcasts), in publish order.
func (p *publisher) ackedFor(users []string) map[string][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string][]string{}
	for _, tag := range p.order {
		a := p.tries[tag]
		for _, u := range users {
			if a.id != "" && (a.user == "" || a.user == u) {
				out[u] = append(out[u], a.id)
			}
		}
	}
	return out
}

// ackedIDs lists every acknowledged id, in publish order.
func (p *publisher) ackedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, tag := range p.order {
		if id := p.tries[tag].id; id != "" {
			out = append(out, id)
		}
	}
	return out
}

func (p *publisher) publish(ctx context.Context, pl payload, a *attempt) {
	data, _ := json.Marshal(pl)
	key := ""
	if p.keyed {
		key = "k-" + pl.tag()
	}
	for try := 0; ; try++ {
		start := time.Now()
		var id string
		var err error
		if a.user == "" {
			id, err = p.c.Broadcast(ctx, "fault", data, key)
		} else {
			id, err = p.c.Publish(ctx, a.user, "fault", data, key)
		}
		p.mu.Lock()
		var ce *client.Error
		switch {
		case err == nil:
			a.id = id
			p.acked++
			if try > 0 && issuedBefore(id, start) {
				p.deduped++ // a cut ack's commit had landed: the retry got its id
			}
		case errors.As(err, &ce) && ce.Status < 500:
			p.refused = append(p.refused, fmt.Sprintf("%s: %v", pl.tag(), err))
		default:
			p.failed++
		}
		p.mu.Unlock()
		if err == nil || !p.keyed || ctx.Err() != nil || (errors.As(err, &ce) && ce.Status < 500) {
			return
		}
		// The server is down or restarting: retry the same event soon.
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
		}
	}
}

// issuedBefore reports that id was issued before t: its millisecond is
// earlier (the generator never issues an id below the clock's millisecond
// unless the clock steps back, which the crash test does not do).
func issuedBefore(id string, t time.Time) bool {
	u, err := eventlog.ParseID(id)
	return err == nil && int64(u.Time()) < t.UnixMilli()
}

// Stop ends the loop after the publish in flight and waits for it.
func (p *publisher) Stop(tb testing.TB) {
	tb.Helper()
	p.stop.Store(true)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		tb.Fatalf("publisher %s did not stop within 30 s", p.name)
	}
}

// follower is a subscriber that records every event it receives and, as
// a browser's EventSource does, reconnects after each disconnect with the
// last id it saw: in the Last-Event-ID header, or (as a new EventSource
// after a page reload would) in ?lastEventId=.
type follower struct {
	user     string
	viaQuery bool
	hc       *http.Client

	mu       sync.Mutex
	base     string   // server URL; setURL moves the follower elsewhere
	last     string   // resume point sent on the next connect
	got      []string // ids of the events received, in order
	gaps     []gapData
	connects int
	done     chan struct{}
}

type gapData struct {
	Reason      string `json:"reason"`
	LastEventID string `json:"lastEventId"`
	OldestID    string `json:"oldestId"`
}

// newFollower follows user on base from the resume point from ("" = the
// live tail, eventlog.ZeroID's text = from the oldest retained).
func newFollower(base, user, from string, viaQuery bool) *follower {
	return &follower{user: user, viaQuery: viaQuery, base: base, last: from, done: make(chan struct{}),
		hc: &http.Client{Transport: client.NewTransport()}}
}

// run follows until ctx ends, reconnecting 10-30 ms after each drop.
func (f *follower) run(ctx context.Context) {
	defer close(f.done)
	defer f.hc.CloseIdleConnections()
	for ctx.Err() == nil {
		f.once(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(10+rand.IntN(20)) * time.Millisecond):
		}
	}
}

func (f *follower) once(ctx context.Context) {
	f.mu.Lock()
	u, last := f.base+"/v1/users/"+url.PathEscape(f.user)+"/stream", f.last
	f.mu.Unlock()
	if f.viaQuery && last != "" {
		u += "?lastEventId=" + url.QueryEscape(last)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return
	}
	req.Header.Set("Accept", "text/event-stream")
	if !f.viaQuery && last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	p := sse.NewParser(resp.Body)
	for {
		m, err := p.Next()
		if err != nil {
			return
		}
		f.record(m)
	}
}

func (f *follower) record(m sse.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch m.Event {
	case "connected":
		f.connects++
	case "gap":
		var g gapData
		_ = json.Unmarshal([]byte(m.Data), &g)
		f.gaps = append(f.gaps, g)
	default:
		f.got = append(f.got, m.ID)
		f.last = m.ID
	}
}

func (f *follower) setURL(base string) {
	f.mu.Lock()
	f.base = base
	f.mu.Unlock()
}

// received returns copies of what the follower has recorded so far.
func (f *follower) received() (ids []string, gaps []gapData, connects int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got), slices.Clone(f.gaps), f.connects
}

// waitFor waits until the follower has received id.
func (f *follower) waitFor(tb testing.TB, id string, timeout time.Duration) {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		ok := slices.Contains(f.got, id)
		n := len(f.got)
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-deadline:
			tb.Fatalf("follower of %s (query=%v) did not receive %s within %s (it has %d events)", f.user, f.viaQuery, id, timeout, n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// tailFollower follows user with the client package's Tail (header
// resume, backoff floored by the server's retry:), recording as follower.
func tailFollower(ctx context.Context, base, user, from string) *follower {
	f := newFollower(base, user, from, false)
	c, _ := client.New(base, client.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	go func() {
		defer close(f.done)
		_ = c.Tail(ctx, user, "", from, func(m sse.Message) error {
			f.record(m)
			return nil
		})
	}()
	return f
}

// stopFollowers cancels the followers' context and waits for them.
func stopFollowers(tb testing.TB, cancel context.CancelFunc, fs []*follower) {
	tb.Helper()
	cancel()
	for _, f := range fs {
		select {
		case <-f.done:
		case <-time.After(10 * time.Second):
			tb.Fatalf("follower of %s did not stop within 10 s", f.user)
		}
	}
}

// publishMarkers publishes one keyed event per user, acknowledged.
func publishMarkers(t *testing.T, ctx context.Context, c *client.Client, name string, users []string) *publisher {
	t.Helper()
	p := newPublisher(name, c, users, true)
	for i, u := range users {
		pl := payload{P: name, N: i}
		a := p.track(pl, u)
		p.publish(ctx, pl, a)
		require.NotEmpty(t, a.id, "marker %s for %s", name, u)
	}
	return p
}

// waitMarkers waits until each follower has its user's marker.
func waitMarkers(t *testing.T, markers *publisher, users []string, fs []*follower) {
	t.Helper()
	ids := markers.ackedFor(users)
	for _, f := range fs {
		own := ids[f.user]
		f.waitFor(t, own[len(own)-1], 30*time.Second)
	}
}

// waitAcked waits until ps have n more acknowledgements between them.
func waitAcked(t *testing.T, ps []*publisher, n int) {
	t.Helper()
	count := func() int {
		sum := 0
		for _, p := range ps {
			p.mu.Lock()
			sum += p.acked
			p.mu.Unlock()
		}
		return sum
	}
	want := count() + n
	deadline := time.After(30 * time.Second)
	for count() < want {
		select {
		case <-deadline:
			t.Fatalf("publishers made %d of %d acks within 30 s", count()-want+n, n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func stopAll(t *testing.T, ps []*publisher) {
	t.Helper()
	for _, p := range ps {
		p.Stop(t)
	}
}
