package jetlog

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// replies routes multi-message answers (batched direct gets) arriving on
// one wildcard inbox subscription to the request waiting for them, so a
// read costs a publish, not a subscribe and an unsubscribe.
type replies struct {
	prefix string
	sub    *nats.Subscription
	n      atomic.Uint64
	mu     sync.Mutex
	chans  map[string]chan *nats.Msg
}

func newReplies(nc *nats.Conn) (*replies, error) {
	r := &replies{prefix: nc.NewRespInbox() + ".", chans: make(map[string]chan *nats.Msg)}
	sub, err := nc.Subscribe(r.prefix+"*", r.route)
	if err != nil {
		return nil, err
	}
	sub.SetPendingLimits(-1, -1) // answers are bounded by the requests in flight
	r.sub = sub
	return r, nil
}

func (r *replies) route(m *nats.Msg) {
	r.mu.Lock()
	c := r.chans[m.Subject]
	r.mu.Unlock()
	if c == nil {
		return // a request that gave up
	}
	select {
	case c <- m:
	default:
		// The reader fell behind its own answer (it is bounded by the
		// batch size, so this is a bug); drop rather than block routing.
	}
}

// open returns a reply subject and the channel its messages arrive on,
// with room for capacity messages; close releases them.
func (r *replies) open(capacity int) (string, <-chan *nats.Msg, func()) {
	subj := r.prefix + strconv.FormatUint(r.n.Add(1), 36)
	c := make(chan *nats.Msg, capacity)
	r.mu.Lock()
	r.chans[subj] = c
	r.mu.Unlock()
	return subj, c, func() {
		r.mu.Lock()
		delete(r.chans, subj)
		r.mu.Unlock()
	}
}

func (r *replies) close() { _ = r.sub.Unsubscribe() }

// next waits for the next message on c.
func next(ctx context.Context, c <-chan *nats.Msg) (*nats.Msg, error) {
	select {
	case m := <-c:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
