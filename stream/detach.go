package stream

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// An idle stream is most of what a notification server holds, so an
// HTTP/1.1 stream is taken off net/http's per-connection machinery once
// its headers are written: the connection is hijacked (which ends
// net/http's background read and drops its read and write buffers), the
// body is written with chunked coding by chunkedConn, and the client's
// close is noticed by the shared closeWatcher instead of a parked read. A
// detached stream has no goroutine of net/http's and, while it waits,
// one goroutine of its own, started on the smallest stack (see park).
// HTTP/2 streams, HTTP/1.0 and writers that cannot be hijacked stay on
// net/http (session.run).

// detach serves the stream detached from net/http and returns true, or
// returns false having written nothing more (the caller then serves it
// on net/http). The status line and headers are already set.
func (h *Handler) detach(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, user string, end time.Time, done func()) bool {
	if !h.detachable(r) {
		return false
	}
	raw := resumePoint(r)
	endAt, _ := r.Context().Deadline() // the handler's context ends when it returns; keep its deadline
	if !end.IsZero() && (endAt.IsZero() || end.Before(endAt)) {
		endAt = end
	}
	c, _, err := rc.Hijack() // writes the headers; the buffers it returns hold nothing a stream needs
	if err != nil {
		return false
	}
	cc := &chunkedConn{c: c}
	s := &session{h: h, out: cc, user: user, conn: cc, endAt: endAt, done: done}
	s.sub = &subscriber{user: user, out: cc, stopc: make(chan struct{})}
	if !h.hub.join(s.sub) {
		_ = c.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
		_, _ = cc.Write(h.retryFrame)
		if cc.Flush() == nil {
			_ = cc.end()
		}
		_ = c.Close()
		if done != nil {
			done()
		}
		return true
	}
	s.unwatch = func() {}
	if unwatch, err := h.watcher.watch(c, s.sub); err == nil {
		s.unwatch = unwatch
	} else {
		// No shared watcher here: notice the close with a read of
		// one byte (bytes a client sends on its stream are dropped).
		go func() {
			var b [1]byte
			for {
				if _, err := c.Read(b[:]); err != nil {
					if errors.Is(err, io.EOF) {
						s.sub.stop() // a FIN: the client may still read
					} else {
						s.sub.leave()
					}
					return
				}
			}
		}()
	}
	go s.runDetached(raw)
	return true
}

// detachable reports whether r's stream is to be detached (if its writer
// can be hijacked).
func (h *Handler) detachable(r *http.Request) bool {
	return !h.noDetach && r.Method == http.MethodGet && r.ProtoMajor == 1 && r.ProtoMinor >= 1 && !h.hub.isClosed()
}

// runDetached starts a detached stream, catches it up and parks it.
func (s *session) runDetached(raw string) {
	s.timer = time.NewTimer(s.h.opts.Heartbeat)
	if s.expired() || !s.start(raw) {
		s.finish()
		return
	}
	uc, bc, ok := s.catchUp()
	if !ok {
		s.finish()
		return
	}
	go s.park(uc, bc) // a replay may have grown this stack: wait on a fresh one
}

// catchUp sends pages until the stream has caught up and returns the
// wake channels to wait on; false means the stream is over.
func (s *session) catchUp() (uc, bc <-chan struct{}, ok bool) {
	for {
		if s.sub.stopped.Load() || s.expired() {
			return nil, nil, false
		}
		uc, bc, full, ok := s.step()
		if !ok || !full {
			return uc, bc, ok
		}
	}
}

// park waits for commits, the heartbeat timer or the end of the stream,
// and sends what commits bring on its own goroutine. It starts on a new
// goroutine's smallest stack; a stream that stays busy keeps its
// goroutine (no new one per event), and one that was idle for a whole
// heartbeat period moves to a fresh one, leaving whatever the work grew.
func (s *session) park(uc, bc <-chan struct{}) {
	for {
		var ok bool
		select {
		case <-s.sub.stopc:
		case <-uc:
			uc, bc, ok = s.catchUp()
		case <-bc:
			uc, bc, ok = s.catchUp()
		case <-s.timer.C:
			if s.expired() {
				break
			}
			if err := s.heartbeat(); err != nil {
				s.writeFailed(err)
				break
			}
			go s.park(uc, bc)
			return
		}
		if !ok {
			s.finish()
			return
		}
	}
}

// expired reports that the stream's end (see session.endAt) has passed.
func (s *session) expired() bool {
	return !s.endAt.IsZero() && !time.Now().Before(s.endAt)
}

// finish ends a detached stream: the last chunk (unless a write failed
// or the client is gone), then the connection is closed.
func (s *session) finish() {
	s.timer.Stop()
	s.unwatch()
	s.h.hub.leave(s.sub)
	if !s.sub.gone.Load() {
		// Close may have moved the deadline to now between two
		// writes; the last chunk gets its own.
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
		_ = s.conn.end()
	}
	_ = s.conn.c.Close()
	if s.done != nil {
		s.done()
	}
	s.h.hub.release()
}
