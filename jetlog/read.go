package jetlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sselog/sselog/eventlog"
)

// ReadAfter returns up to limit events after `after` addressed to user or
// broadcast, in stream order. Live readers (a resume point among the
// events this node holds in memory) are answered from memory; older
// resume points read the stream with batched direct gets on the user's
// and the broadcast subject, merged by sequence.
//
// A resume point above what this node has seen, but acknowledged by the
// stream (published through another node a moment ago), waits (bounded)
// for this node's follower to catch up. One this stream never issued
// (above its last sequence, or not the id of the message at its
// sequence) is reported in Page.Unknown, as eventlog does. A page also
// stops once it holds Options.PageBytes of data (at least one event), and
// then says so in Truncated.
func (l *Log) ReadAfter(user string, after eventlog.ID, limit int) (eventlog.Page, error) {
	p, err := l.readAfter(user, after, limit)
	if err != nil {
		return eventlog.Page{}, err
	}
	if p.Gap != nil {
		// As eventlog: the first id held after the resume point among
		// the reader's events, zero when none is held yet.
		p.Gap.Oldest = eventlog.ZeroID
		if len(p.Events) > 0 {
			p.Gap.Oldest = p.Events[0].ID
		}
	}
	if n := len(p.Events); n > 0 {
		l.verified.add(p.Events[n-1].ID) // the reader's next resume point
	}
	if after != eventlog.ZeroID {
		ctx, cancel := l.ctx(context.Background())
		defer cancel()
		unknown, err := l.unknown(ctx, after)
		if err != nil {
			return eventlog.Page{}, fmt.Errorf("read %q after %s: %w", user, after, err)
		}
		p.Unknown = unknown
	}
	return p, nil
}

func (l *Log) readAfter(user string, after eventlog.ID, limit int) (eventlog.Page, error) {
	if limit <= 0 {
		limit = eventlog.DefaultLimit
	}
	limit = min(limit, eventlog.MaxLimit)
	if l.isClosed() {
		return eventlog.Page{}, eventlog.ErrClosed
	}
	seq := seqOf(after)
	ctx, cancel := l.ctx(context.Background())
	defer cancel()
	if a := l.acked.Load(); a > l.tail.seenSeq() {
		l.waitSeen(ctx, a) // read our own writes
	}
	p, ok, holed := l.tail.read(user, seq, limit, l.limits())
	if ok && seq > seqOf(p.Last) && l.catchUp(seq) {
		p, ok, holed = l.tail.read(user, seq, limit, l.limits())
	}
	if ok {
		return p, nil
	}
	for try := 0; ; try++ {
		p, again, tailHoled, err := l.readStream(ctx, user, after, limit, l.tail.upper(holed))
		if err != nil {
			return eventlog.Page{}, fmt.Errorf("read %q after %s: %w", user, after, err)
		}
		if !again {
			return p, nil
		}
		if try == 10 {
			// The tail kept moving under the reads. An empty page here
			// would say "at the end" (a subscriber would wait for the
			// next event with events held) and carry a zero Last (a
			// reader at an unknown resume point would be sent on from
			// the oldest retained): fail the read, and the reader tries
			// again (a stream ends and its client resumes from its
			// cursor).
			return eventlog.Page{}, fmt.Errorf("read %q after %s: %w", user, after, errReadRace)
		}
		// A hole above the floor (sequences the follower never saw as
		// events: deleted before it got them, or not events at all)
		// keeps the tail from answering there: read the stream up to
		// the tail's last instead. Reading up to the floor again found
		// the same nothing, and after 10 tries the reader got an empty
		// page, wake after wake, while its events were held.
		holed = holed || tailHoled
	}
}

// errReadRace is a read that the tail kept moving under.
var errReadRace = errors.New("the node's memory kept moving under the read; try again")

// unknown reports whether after is an id this stream never issued: one
// with bits an id of this stream never has, above the stream's last
// sequence, or other than the id of the message held at its sequence. A
// sequence whose message is gone (retention) is taken as issued: it was.
func (l *Log) unknown(ctx context.Context, after eventlog.ID) (bool, error) {
	if after[14] != 0 || after[15] != 0 {
		return true, nil
	}
	if l.verified.has(after) {
		return false, nil
	}
	seq := seqOf(after)
	// The tail never sees deletions: an id it does not know at a sequence
	// it holds may be one the stream has since deleted (a gap's Through
	// at a deleted sequence carries no time), which is issued. Only its
	// yes is final; a no is asked of the stream.
	if known, sure := l.tail.issued(after); sure && known {
		l.verified.add(after)
		return false, nil
	}
	if seq > seqOf(l.tail.lastID()) {
		info, err := l.st.Info(ctx)
		if err != nil {
			return false, err
		}
		if seq > info.State.LastSeq {
			return true, nil
		}
	}
	s, err := l.rawGet(ctx, seq)
	switch {
	case errors.Is(err, errNotFound):
		return false, nil // deleted: issued once
	case errors.Is(err, errForeign):
		return true, nil
	case err != nil:
		return false, err
	case s.event.ID != after:
		return true, nil
	}
	l.verified.add(after)
	return false, nil
}

// verified remembers resume points known to be issued (the last id of
// each page read, ids checked against the stream), so a reader paging
// through history costs no extra lookup per page. It forgets everything
// past a bound.
type verified struct {
	mu  sync.Mutex
	ids map[eventlog.ID]struct{}
}

const maxVerified = 8192

func (v *verified) add(id eventlog.ID) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ids == nil || len(v.ids) >= maxVerified {
		v.ids = make(map[eventlog.ID]struct{})
	}
	v.ids[id] = struct{}{}
}

func (v *verified) has(id eventlog.ID) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.ids[id]
	return ok
}

// bound cuts events once they hold max bytes of data (at least one is
// kept) and says whether it did.
func bound(events []eventlog.Event, max int) ([]eventlog.Event, bool) {
	size := 0
	for i, e := range events {
		if i > 0 && size >= max {
			return events[:i], true
		}
		size += len(e.Data) + len(e.Name)
	}
	return events, false
}

// catchUp waits until this node's follower has seen seq, if the stream
// holds it; false if it does not or the wait timed out.
func (l *Log) catchUp(seq uint64) bool {
	ctx, cancel := l.ctx(context.Background())
	defer cancel()
	info, err := l.st.Info(ctx)
	if err != nil || info.State.LastSeq < seq || info.State.Msgs == 0 {
		return false
	}
	l.sawSeq(info.State.LastSeq)
	return l.waitSeen(ctx, seq)
}

// maxCatchUp bounds how long a read waits for this node's follower.
const maxCatchUp = 3 * time.Second

// waitSeen waits until the follower has seen seq, or ctx ends (at most
// maxCatchUp: a follower cut off by an outage must not stall reads).
func (l *Log) waitSeen(ctx context.Context, seq uint64) bool {
	ctx, cancel := context.WithTimeout(ctx, maxCatchUp)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		l.tail.mu.Lock()
		l.tail.cond.Broadcast()
		l.tail.mu.Unlock()
	})
	defer stop()
	l.tail.mu.Lock()
	defer l.tail.mu.Unlock()
	for l.tail.seen < seq {
		if ctx.Err() != nil || l.isClosedLocked() {
			return false
		}
		l.tail.cond.Wait()
	}
	return true
}

func (l *Log) isClosedLocked() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// readStream reads what the memory tail cannot answer: the user's subject
// and the broadcast subject after `after` up to floor, merged, then the
// tail. again reports that it found nothing up to the tail's floor and
// the tail could not answer from there: the read must start over (an
// empty page would tell the reader it is at the end); holed, that a hole
// above the floor was why.
func (l *Log) readStream(ctx context.Context, user string, after eventlog.ID, limit int, floor uint64) (p eventlog.Page, again, holed bool, err error) {
	from := seqOf(after) + 1
	subjs := []string{l.subj.user("")}
	if user != "" {
		subjs = append(subjs, l.subj.user(user))
	}
	lists := make([][]eventlog.Event, len(subjs))
	upTo := floor // merged events are complete up to here
	for i, s := range subjs {
		var last uint64 // the last sequence answered, kept or not
		n := 0
		more, err := l.direct(ctx, directReq{Seq: from, NextFor: s, Batch: limit}, func(m *nats.Msg, seq uint64) bool {
			last = seq
			n++
			if seq > floor {
				return false
			}
			if e, ok := l.decode(s, seq, m.Header, m.Data, stampOf(m)); ok {
				lists[i] = append(lists[i], e)
			}
			return true
		})
		if err != nil {
			return eventlog.Page{}, false, false, err
		}
		// A cut answer is complete only up to what it holds.
		if (more || n == limit) && last < upTo {
			upTo = last
		}
	}
	p.Events = merge(lists, upTo, limit)
	tailCut := false // the tail stopped at its byte bound with more held
	if len(p.Events) < limit && upTo == floor {
		tp, ok, holed := l.tail.read(user, floor, limit-len(p.Events), l.limits())
		if !ok && holed && floor >= seqOf(l.tail.lastID()) {
			// Every hole lies above the tail's last event (last only
			// grows, so it was floor during the read too): memory holds
			// nothing after floor, and the stream was read up to it; the
			// gap below tells what retention took. Starting over found
			// the same, until the next event moved last past the hole.
			ok = true
		}
		if !ok && len(p.Events) == 0 {
			return eventlog.Page{}, true, holed, nil
		}
		p.Events = append(p.Events, tp.Events...)
		tailCut = tp.Truncated
	}
	p.Events, p.Truncated = bound(p.Events, l.opts.PageBytes)
	p.Truncated = p.Truncated || tailCut
	p.Last = l.tail.lastID()
	if after != eventlog.ZeroID {
		gap, err := l.gap(ctx, user, after)
		if err != nil {
			return eventlog.Page{}, false, false, err
		}
		p.Gap = gap
	}
	return p, false, false, nil
}

// limits are the stream's retention limits as of now (as of its last
// check: retain).
func (l *Log) limits() limits {
	lim := limits{maxEvents: int(l.retain.maxEvents.Load()), pageBytes: l.opts.PageBytes}
	if age := time.Duration(l.retain.maxAge.Load()); age > 0 {
		lim.cutoff = l.opts.Now().Add(-age)
	}
	return lim
}

// retain holds the stream's retention limits as of its last check: the
// last node to start sets them, so they may differ from this node's.
type retain struct {
	maxEvents atomic.Int64 // 0 = no cap
	maxAge    atomic.Int64 // a time.Duration; 0 = none
}

func (r *retain) set(c jetstream.StreamConfig) {
	r.maxEvents.Store(max(c.MaxMsgsPerSubject, 0))
	r.maxAge.Store(int64(max(c.MaxAge, 0)))
}

func stampOf(m *nats.Msg) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp"))
	return t
}

// merge merges lists sorted by sequence, keeping sequences <= upTo.
func merge(lists [][]eventlog.Event, upTo uint64, limit int) []eventlog.Event {
	idx := make([]int, len(lists))
	var out []eventlog.Event
	for len(out) < limit {
		best := -1
		for i, l := range lists {
			if idx[i] < len(l) && (best < 0 || seqOf(l[idx[i]].ID) < seqOf(lists[best][idx[best]].ID)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		e := lists[best][idx[best]]
		if seqOf(e.ID) > upTo {
			break
		}
		out = append(out, e)
		idx[best]++
	}
	return out
}
