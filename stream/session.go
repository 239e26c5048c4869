package stream

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

var heartbeatFrame = []byte(": heartbeat\n")

// session is one open stream: its cursor is the id of the last event it
// wrote, and it holds at most one page of events at a time.
type session struct {
	h    *Handler
	out  sink
	user string
	sub  *subscriber

	cursor     eventlog.ID
	gapThrough eventlog.ID // the hole last reported by a gap event
	raw        string      // the client's resume point, as sent
	resumed    bool        // raw is an id to replay after
	firstRead  bool        // the next read is the first after connecting
	catchingUp bool        // replaying from a resume point, not yet at the tail
	deadlineAt time.Time   // when the write deadline was last pushed forward
	noDeadline bool        // the writer cannot set deadlines
	timer      *time.Timer
	scratch    []byte // per-subscriber formatting when the cache is off

	// endAt is when the stream ends cleanly (zero: never): its
	// credential's expiry, or for a detached stream the request
	// context's deadline if that comes first.
	endAt time.Time

	// A detached stream (see detach.go) also has its connection, and
	// the caller's done, called once when it ends.
	conn    *chunkedConn
	unwatch func()
	done    func()
}

// run serves a stream on the handler's goroutine until ctx ends.
func (s *session) run(ctx context.Context, raw string) {
	if err := s.flushHeaders(); err != nil {
		s.writeFailed(err)
		return
	}
	s.timer = time.NewTimer(s.h.opts.Heartbeat)
	defer s.timer.Stop()
	s.resetTimer()
	if !s.start(raw) {
		return
	}
	for {
		if ctx.Err() != nil || s.expired() {
			return
		}
		uc, bc, full, ok := s.step()
		if !ok {
			return
		}
		if full {
			continue
		}
		if !s.wait(ctx, uc, bc) {
			return
		}
	}
}

// start sends the connected event (and a gap for a resume point that is
// not an id) and places the cursor; false means the stream is over.
func (s *session) start(raw string) bool {
	s.raw, s.firstRead = raw, true
	var gap []byte
	switch id, err := eventlog.ParseID(raw); {
	case raw == "":
		s.cursor = s.h.src.Last()
	case err != nil:
		// A browser never retries after an error status, so a resume
		// point left by another server (a UUID) opens the live tail
		// with a gap event saying so.
		oldest, err := s.oldest()
		if err != nil {
			s.readFailed(err)
			return false
		}
		s.cursor = s.h.src.Last()
		gap = controlFrame("gap", gapData{gapInvalid, sse.Clip(raw, maxEcho), idText(oldest), s.cursor.String()}, 0)
		s.h.hub.gaps.Add(1)
	default:
		s.cursor, s.resumed, s.catchingUp = id, true, true
	}
	first := controlFrame("connected", connectedData{
		UserID:      s.user,
		Timestamp:   time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		LastEventID: sse.Clip(raw, maxEcho),
		ResumeFrom:  s.cursor.String(),
	}, s.h.opts.Retry)
	first = append(first, gap...)
	if err := s.send(first, nil); err != nil {
		s.writeFailed(err)
		return false
	}
	return true
}

// step reads one page after the cursor and sends it. It takes the wake
// channels before the read, so a commit landing after the read still
// wakes the caller, which waits on them unless the page was full. false
// means the stream is over.
func (s *session) step() (uc, bc <-chan struct{}, full, ok bool) {
	firstRead := s.firstRead
	s.firstRead = false
	uc, bc = s.h.src.Changed(s.user), s.h.src.Changed("")
	page, err := s.h.src.ReadAfter(s.user, s.cursor, pageSize)
	if err != nil {
		s.readFailed(err)
		return nil, nil, false, false
	}
	var gap []byte
	switch {
	case firstRead && s.resumed && page.Unknown:
		// Never issued by this log (say, an id from after the backup
		// this file was restored from, however many events came
		// since): report it rather than guess, and follow the tail.
		oldest, err := s.oldest()
		if err != nil {
			s.readFailed(err)
			return nil, nil, false, false
		}
		s.cursor, page.Events = page.Last, nil
		gap = controlFrame("gap", gapData{gapUnknown, sse.Clip(s.raw, maxEcho), idText(oldest), s.cursor.String()}, 0)
	case page.Gap != nil && page.Gap.Through.Compare(s.gapThrough) > 0:
		// One hole, one gap: later pages below the same mark (more
		// broadcasts, or nothing yet) are the hole already told.
		s.gapThrough = page.Gap.Through
		last := s.cursor.String()
		if firstRead {
			last = sse.Clip(s.raw, maxEcho)
		}
		// Resuming from the hole's end skips it, unless events still
		// held lie below that end (one bucket's mark passed events the
		// other bucket kept): those follow now, so the stream stands
		// where it is, and a client resuming from here is told the hole
		// again rather than lose them.
		from := page.Gap.Through
		if len(page.Events) > 0 && page.Events[0].ID.Compare(from) < 0 {
			from = s.cursor
		}
		gap = controlFrame("gap", gapData{gapRetention, last, idText(page.Gap.Oldest), from.String()}, 0)
	}
	if gap != nil {
		s.h.hub.gaps.Add(1)
	}
	if err := s.send(gap, page.Events); err != nil {
		s.writeFailed(err)
		return nil, nil, false, false
	}
	if len(page.Events) == pageSize || page.Truncated {
		return uc, bc, true, true // more to replay: a page is bounded in count and in bytes
	}
	s.catchingUp = false
	return uc, bc, false, true
}

// wait blocks until there may be something to read, writing heartbeats
// meanwhile; false means the stream is over.
func (s *session) wait(ctx context.Context, uc, bc <-chan struct{}) bool {
	s.idle()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.h.hub.Done():
			return false
		case <-uc:
			return true
		case <-bc:
			return true
		case <-s.timer.C:
			if s.expired() {
				return false // the credential expired: end cleanly, the client comes back with a new one
			}
			if err := s.heartbeat(); err != nil {
				s.writeFailed(err)
				return false
			}
			s.idle()
		}
	}
}

// idle clears the write deadline before the stream waits, when the next
// heartbeat may come after it: over HTTP/2 a deadline that passes while
// nothing is written resets the stream. The next write arms it again.
// With the usual settings (heartbeat at most half the write timeout) the
// deadline is always pushed forward before it can pass, and this costs
// nothing.
func (s *session) idle() {
	if !s.h.clearIdle || s.noDeadline || s.deadlineAt.IsZero() {
		return
	}
	_ = s.setDeadline(time.Time{})
	s.deadlineAt = time.Time{}
}

func (s *session) heartbeat() error {
	if err := s.send(heartbeatFrame, nil); err != nil {
		return err
	}
	s.h.hub.heartbeats.Add(1)
	return nil
}

// send writes pre (a control frame or comment, may be nil) and events'
// frames, then flushes. The cursor moves past every event, including one
// that cannot be formatted (logged, not sent).
func (s *session) send(pre []byte, events []eventlog.Event) error {
	if pre == nil && len(events) == 0 {
		return nil
	}
	s.sub.writing.Store(true)
	defer s.sub.writing.Store(false)
	if s.h.hub.isClosed() {
		return errHubClosed
	}
	if pre != nil {
		if err := s.write(pre); err != nil {
			return err
		}
	}
	n := 0
	for i := range events {
		e := &events[i]
		s.cursor = e.ID
		b, err := s.frame(e)
		if err != nil {
			continue
		}
		if err := s.write(b); err != nil {
			return err
		}
		n++
	}
	if err := s.out.Flush(); err != nil {
		return err
	}
	if n > 0 {
		s.h.hub.delivered.Add(uint64(n))
		if s.catchingUp {
			s.h.hub.replayed.Add(uint64(n))
		}
	}
	s.resetTimer()
	return nil
}

// resetTimer sets the timer to the next heartbeat, or to the stream's end
// if that comes first.
func (s *session) resetTimer() {
	d := s.h.opts.Heartbeat
	if !s.endAt.IsZero() {
		d = min(d, max(time.Until(s.endAt), 0))
	}
	s.timer.Reset(d)
}

// write writes b under a write deadline. The deadline is pushed forward
// at most every WriteTimeout/16, so a stream is closed after between
// 15/16 and all of WriteTimeout without a completed write.
func (s *session) write(b []byte) error {
	if err := s.arm(); err != nil {
		return err
	}
	_, err := s.out.Write(b)
	return err
}

// arm pushes the write deadline forward if it is due.
func (s *session) arm() error {
	if now := time.Now(); !s.noDeadline && now.Sub(s.deadlineAt) > s.h.opts.WriteTimeout/16 {
		if err := s.setDeadline(now.Add(s.h.opts.WriteTimeout)); err != nil {
			return err
		}
		s.deadlineAt = now
		// Hub.Close moves the deadline of writing streams to now after
		// closing done; a deadline set after that must not undo it.
		if s.h.hub.isClosed() {
			return errHubClosed
		}
	}
	return nil
}

// flushHeaders sends the response headers at once, so that proxies and
// browsers see the stream open before the log is read.
func (s *session) flushHeaders() error {
	s.sub.writing.Store(true)
	defer s.sub.writing.Store(false)
	if s.h.hub.isClosed() {
		return errHubClosed
	}
	if err := s.arm(); err != nil {
		return err
	}
	return s.out.Flush()
}

func (s *session) setDeadline(t time.Time) error {
	err := s.out.SetWriteDeadline(t)
	if errors.Is(err, http.ErrNotSupported) {
		s.noDeadline = true
		s.h.deadlineWarn.Do(func() {
			s.h.log.Warn("response writer cannot set write deadlines: stalled subscribers will not be closed")
		})
		return nil
	}
	return err
}

func (s *session) frame(e *eventlog.Event) ([]byte, error) {
	if s.h.frames == nil {
		b, err := appendEvent(s.scratch[:0], e)
		s.scratch = b[:0]
		if err != nil {
			s.h.log.Error("skip event", "user", s.user, "id", e.ID, "err", err)
		}
		return b, err
	}
	b, fresh, err := s.h.frames.get(e)
	if err != nil && fresh {
		s.h.log.Error("skip event", "user", s.user, "id", e.ID, "err", err)
	}
	return b, err
}

// oldest returns the oldest id held among the events s can receive.
func (s *session) oldest() (eventlog.ID, error) {
	p, err := s.h.src.ReadAfter(s.user, eventlog.ZeroID, 1)
	if err != nil || len(p.Events) == 0 {
		return eventlog.ZeroID, err
	}
	return p.Events[0].ID, nil
}

func (s *session) readFailed(err error) {
	s.h.log.Error("stream read", "user", s.user, "err", err)
}

func (s *session) writeFailed(err error) {
	switch {
	case errors.Is(err, errHubClosed), s.h.hub.isClosed():
	case errors.Is(err, http.ErrNotSupported):
		s.h.flushWarn.Do(func() {
			s.h.log.Error("response writer cannot flush: streams cannot work (does a middleware wrapper lack Unwrap?)", "err", err)
		})
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.h.hub.slowClosed.Add(1)
		s.h.log.Info("closed a subscriber that stopped reading", "user", s.user, "id", s.cursor)
	}
}
