package bench

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// holder opens idle subscribers and keeps them until released: the work
// of one connections process.
type holder struct {
	base   *url.URL
	dial   *dialer
	tokens tokens

	mu    sync.Mutex
	conns []*streamConn

	opened, failed, dropped, heartbeats atomic.Int64
	firstDial, lastOpen                 atomic.Int64 // unix nanos
	setup                               Histogram
	errs                                errSample
	closing                             atomic.Bool
	readers                             sync.WaitGroup
}

// holdMsg is a holder's state: sent as JSON lines by a child process
// (kind progress, ready, done) and built in-process alike.
type holdMsg struct {
	Kind       string     `json:"kind"`
	Opened     int64      `json:"opened"`
	Failed     int64      `json:"failed"`
	Dropped    int64      `json:"dropped"`
	Heartbeats int64      `json:"heartbeats"`
	FirstDial  int64      `json:"first_dial"`
	LastOpen   int64      `json:"last_open"`
	Setup      *Histogram `json:"setup,omitempty"`
	Errors     string     `json:"errors,omitempty"`
}

func (h *holder) state(kind string) holdMsg {
	m := holdMsg{Kind: kind, Opened: h.opened.Load(), Failed: h.failed.Load(), Dropped: h.dropped.Load()}
	if kind == "done" {
		m.Heartbeats, m.FirstDial, m.LastOpen = h.heartbeats.Load(), h.firstDial.Load(), h.lastOpen.Load()
		m.Setup, m.Errors = &h.setup, h.errs.String()
	}
	return m
}

// open opens n subscribers, numbered from first (their users are
// idle-<number>), parallel at a time, and returns once each has
// connected or failed.
func (h *holder) open(ctx context.Context, first, n, parallel int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n) && ctx.Err() == nil; i = next.Add(1) - 1 {
				if err := h.openOne(ctx, "idle-"+strconv.Itoa(first+int(i))); err != nil {
					h.failed.Add(1)
					h.errs.add(err)
				}
			}
		})
	}
	wg.Wait()
}

func (h *holder) openOne(ctx context.Context, user string) error {
	tok, err := h.tokens.For(user)
	if err != nil {
		return err
	}
	t0 := time.Now()
	h.firstDial.CompareAndSwap(0, t0.UnixNano())
	c, err := openStream(ctx, h.dial, streamReq{base: h.base, user: user, token: tok, bufSize: 512})
	if err != nil {
		return err
	}
	if err := c.expectConnected(); err != nil {
		c.Close()
		return fmt.Errorf("stream for %s: %w", user, err)
	}
	now := time.Now()
	h.setup.Record(now.Sub(t0))
	for last := h.lastOpen.Load(); now.UnixNano() > last && !h.lastOpen.CompareAndSwap(last, now.UnixNano()); last = h.lastOpen.Load() {
	}
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	h.opened.Add(1)
	h.readers.Go(func() { h.idle(c, user) })
	return nil
}

// idle reads a held stream (heartbeats, and anything else) until it
// ends; an end before release is a dropped connection.
func (h *holder) idle(c *streamConn, user string) {
	var err error
	for err == nil {
		_, err = c.Next()
	}
	h.heartbeats.Add(int64(c.heartbeats))
	if !h.closing.Load() {
		h.dropped.Add(1)
		h.errs.add(fmt.Errorf("stream for %s ended: %w", user, err))
	}
}

// release closes every held stream and waits for their readers.
func (h *holder) release() {
	h.closing.Store(true)
	h.mu.Lock()
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	h.readers.Wait()
}
