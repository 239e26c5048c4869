package stream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Hub is the registry of live subscribers. It does not carry events (each
// subscriber pulls them from the log after its own cursor, and the log
// wakes it); it counts subscribers and what they were sent, and ends every
// stream on Close. The zero value is not usable; call NewHub.
type Hub struct {
	mu       sync.Mutex
	subs     map[*subscriber]struct{}
	users    map[string]int // open streams per user
	closed   bool
	done     chan struct{}
	detached sync.WaitGroup // streams served off net/http's goroutines

	subscribers atomic.Int64
	detachedN   atomic.Int64
	delivered   atomic.Uint64
	replayed    atomic.Uint64
	heartbeats  atomic.Uint64
	gaps        atomic.Uint64
	slowClosed  atomic.Uint64
}

// HubStats are the hub's counters since NewHub.
type HubStats struct {
	Subscribers int64  // streams open now
	Detached    int64  // of which served off net/http (HTTP/1.1, see Handler.Serve)
	Delivered   uint64 // event frames written, replayed ones included
	Replayed    uint64 // event frames written while catching up from a resume point
	Heartbeats  uint64 // heartbeat comments written
	Gaps        uint64 // gap events written
	SlowClosed  uint64 // streams ended because a write did not complete in time
}

// subscriber is one open stream as the hub sees it.
type subscriber struct {
	user string
	out  sink
	// writing is set while the stream's handler may be blocked in a
	// write. Close interrupts only those: a deadline set on an idle
	// HTTP/2 stream would reset it instead of letting it end cleanly.
	writing atomic.Bool
	// stopc, for a detached stream only, is closed (once, by stop) when
	// the stream must end: the hub closed or the client went away.
	stopc   chan struct{}
	stopped atomic.Bool
	gone    atomic.Bool // the client went away
}

// leave ends a detached stream whose client went away.
func (s *subscriber) leave() {
	s.gone.Store(true)
	s.stop()
}

// stop ends a detached stream: it wakes it wherever it waits.
func (s *subscriber) stop() {
	if s.stopc != nil && s.stopped.CompareAndSwap(false, true) {
		close(s.stopc)
	}
}

// NewHub returns an open hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[*subscriber]struct{}), users: make(map[string]int), done: make(chan struct{})}
}

// Done is closed when Close is called.
func (h *Hub) Done() <-chan struct{} { return h.done }

// closeGrace is how long Close lets a stream that is writing finish its
// write before the write deadline cuts it.
const closeGrace = 250 * time.Millisecond

// Close refuses new subscribers and ends every open stream: idle streams
// see Done and return, and a stream blocked writing to a stalled client
// has its write deadline moved to closeGrace from now. It is idempotent and returns
// without waiting for the handlers, so it suits
// http.Server.RegisterOnShutdown.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.done)
	// A writer that is not stalled finishes within the grace, sees done
	// and ends its response cleanly, replacing this deadline; only a
	// stalled one is cut. A deadline of now would also cut a healthy
	// HTTP/2 stream mid-exit: its timer resets the stream (INTERNAL_ERROR)
	// instead of ending it.
	cut := time.Now().Add(closeGrace)
	for s := range h.subs {
		// After close(done): a handler that has not yet seen done has
		// either set writing (and is interrupted here) or will see done
		// before its next write.
		if s.writing.Load() {
			_ = s.out.SetWriteDeadline(cut)
		}
		s.stop()
	}
}

// Wait waits until every stream detached from net/http (see
// Handler.Serve) has ended, or ctx ends. http.Server.Shutdown does not
// wait for those: call Wait after Close and Shutdown, before closing the
// log.
func (h *Hub) Wait(ctx context.Context) error {
	// join adds to detached under mu: taking mu here orders every Add
	// made before Close ahead of this Wait (the race detector reported
	// an Add from a stream joining just before shutdown racing Wait).
	h.mu.Lock()
	h.mu.Unlock() //nolint:staticcheck // an empty critical section, for ordering
	done := make(chan struct{})
	go func() {
		h.detached.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the hub's counters. It only loads atomics.
func (h *Hub) Stats() HubStats {
	return HubStats{
		Subscribers: h.subscribers.Load(),
		Detached:    h.detachedN.Load(),
		Delivered:   h.delivered.Load(),
		Replayed:    h.replayed.Load(),
		Heartbeats:  h.heartbeats.Load(),
		Gaps:        h.gaps.Load(),
		SlowClosed:  h.slowClosed.Load(),
	}
}

// Streams returns how many streams are open now for user, or for every
// user when user is "" (the streams a broadcast reaches). It is a hint for
// apps (is anyone listening?), not a delivery guarantee.
func (h *Hub) Streams(user string) int {
	if user == "" {
		return int(h.subscribers.Load())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.users[user]
}

// join registers s; false once the hub is closed. A detached stream (s
// with a stop channel) counts for Wait until leave.
func (h *Hub) join(s *subscriber) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if s.stopc != nil {
		h.detached.Add(1)
		h.detachedN.Add(1)
	}
	h.subs[s] = struct{}{}
	h.users[s.user]++
	h.subscribers.Add(1)
	return true
}

// leave removes s. Once it returns, Close no longer touches s's writer,
// which is invalid after the handler returns.
func (h *Hub) leave(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		if h.users[s.user]--; h.users[s.user] <= 0 {
			delete(h.users, s.user)
		}
		h.subscribers.Add(-1)
		if s.stopc != nil {
			h.detachedN.Add(-1)
		}
	}
}

// release marks a detached stream's end for Wait, once its connection is
// closed.
func (h *Hub) release() { h.detached.Done() }

func (h *Hub) isClosed() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}
