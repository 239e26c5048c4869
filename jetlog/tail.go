package jetlog

import (
	"slices"
	"sync"
	"time"

	"github.com/sselog/sselog/eventlog"
)

// tail keeps the newest events this node's follower has seen. Its rule:
// every event with a sequence above floor and at most last is in events,
// in order. Reads from below floor go to the stream.
type tail struct {
	mu     sync.RWMutex
	cond   *sync.Cond
	events []eventlog.Event
	floor  eventlog.ID // newest event not (or no longer) held
	last   eventlog.ID // newest event seen
	// seen is the newest stream sequence the follower was given, event or
	// not: a message that is not an event (another app's, on the
	// stream's subjects) moves it, not last, so a read that waits for the
	// follower to reach the stream's last sequence is not kept waiting by
	// one it will never see as an event.
	seen uint64
	size int
	// holes are sequences above floor the follower never saw: retention
	// deleted them before they were delivered (a subject that took more
	// than its cap while the follower lagged). A read across one cannot
	// tell from memory what was lost, so it goes to the stream.
	holes []hole
}

// hole is a run of sequences [from, to] the follower skipped.
type hole struct{ from, to uint64 }

func newTail(size int, last eventlog.ID) *tail {
	t := &tail{size: size, floor: last, last: last, seen: seqOf(last)}
	t.cond = sync.NewCond(&t.mu)
	return t
}

// add appends the next event in stream order; false if already seen.
func (t *tail) add(e eventlog.Event) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	seq := seqOf(e.ID)
	if !t.passLocked(seq) {
		return false
	}
	t.events = append(t.events, e)
	t.last = e.ID
	if len(t.events) >= 2*t.size {
		over := len(t.events) - t.size
		t.floor = t.events[over-1].ID
		t.events = slices.Delete(t.events, 0, over)
		f := seqOf(t.floor)
		t.holes = slices.DeleteFunc(t.holes, func(h hole) bool { return h.to <= f })
	}
	t.cond.Broadcast()
	return true
}

// pass records a sequence that is not an event; false if already seen.
func (t *tail) pass(seq uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.passLocked(seq) {
		return false
	}
	t.cond.Broadcast()
	return true
}

// passLocked moves seen to seq, recording the sequences skipped on the
// way as a hole; false if seq was seen already.
func (t *tail) passLocked(seq uint64) bool {
	if seq <= t.seen {
		return false
	}
	if seq > t.seen+1 { // the follower starts right after the last sequence at open
		t.holes = append(t.holes, hole{t.seen + 1, seq - 1})
	}
	t.seen = seq
	return true
}

// seenSeq is the newest stream sequence the follower was given.
func (t *tail) seenSeq() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.seen
}

func (t *tail) lastID() eventlog.ID {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.last
}

// limits are the stream's retention limits, applied to what the tail
// holds: the stream deletes a subject's oldest events past maxEvents and
// events older than maxAge, and the tail (which never sees deletions)
// skips the same events and reports the gap.
type limits struct {
	maxEvents int
	cutoff    time.Time // events published before this are gone; zero = none
	pageBytes int       // a page's data bound; 0 = none
}

// read answers from memory when after >= seq(floor) and no hole lies
// above after; ok is false otherwise, and holed says it was a hole (the
// stream must then be read up to last, not only up to floor).
func (t *tail) read(user string, after uint64, limit int, lim limits) (p eventlog.Page, ok, holed bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if after < seqOf(t.floor) {
		return eventlog.Page{}, false, false
	}
	for _, h := range t.holes {
		if h.to > after {
			return eventlog.Page{}, false, true
		}
	}
	p.Last = t.last
	i, _ := slices.BinarySearchFunc(t.events, after, func(e eventlog.Event, s uint64) int {
		return cmpU(seqOf(e.ID), s)
	})
	for i < len(t.events) && seqOf(t.events[i].ID) <= after {
		i++
	}
	// A subject with more than maxEvents events after the resume point
	// has lost the oldest of them.
	var skipU, skipB int
	if lim.maxEvents > 0 {
		var nu, nb int
		for _, e := range t.events[i:] {
			switch e.User {
			case "":
				nb++
			case user:
				nu++
			}
		}
		skipU, skipB = max(nu-lim.maxEvents, 0), max(nb-lim.maxEvents, 0)
	}
	// through is the newest event skipped as deleted: the hole's end.
	var through eventlog.ID
	size := 0
	for ; i < len(t.events) && len(p.Events) < limit; i++ {
		e := t.events[i]
		switch {
		case e.User != "" && e.User != user:
			continue
		case e.User == "" && skipB > 0:
			skipB--
			through = e.ID
			continue
		case e.User != "" && skipU > 0:
			skipU--
			through = e.ID
			continue
		case !lim.cutoff.IsZero() && e.Time.Before(lim.cutoff):
			through = e.ID
			continue
		}
		if lim.pageBytes > 0 && size >= lim.pageBytes && len(p.Events) > 0 {
			p.Truncated = true
			break
		}
		p.Events = append(p.Events, e)
		size += len(e.Data) + len(e.Name)
	}
	if through != eventlog.ZeroID && after > 0 { // from the oldest retained is no gap
		p.Gap = &eventlog.Gap{Through: through}
	}
	return p, true, false
}

// issued says whether the tail can tell that id was issued by the
// stream (sure), and if so whether it was (known): every sequence above
// floor and at most last is held unless it lies in a hole or was not an
// event of this log.
func (t *tail) issued(id eventlog.ID) (known, sure bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	seq := seqOf(id)
	if id == t.floor || id == t.last {
		return true, true
	}
	if seq <= seqOf(t.floor) || seq > seqOf(t.last) {
		return false, false
	}
	for _, h := range t.holes {
		if seq >= h.from && seq <= h.to {
			return false, false
		}
	}
	i, found := slices.BinarySearchFunc(t.events, seq, func(e eventlog.Event, s uint64) int {
		return cmpU(seqOf(e.ID), s)
	})
	if !found {
		return false, true // a message the follower skipped: not an event
	}
	return t.events[i].ID == id, true
}

// upper returns the sequence up to which a read that the tail could not
// answer must go to the stream: floor, or last across a hole.
func (t *tail) upper(holed bool) uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if holed {
		return seqOf(t.last)
	}
	return seqOf(t.floor)
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
