package eventlog

import (
	"slices"
	"sync"
)

// tail keeps the newest committed events in memory so that live readers —
// thousands of subscribers woken by the same commit — are answered without
// a bbolt transaction each, and share one copy of every event.
//
// Its one rule: every committed event with an id above floor is in events,
// in id order. Reads whose resume point is below floor (older history, or
// anything retention may have deleted) go to the file instead.
type tail struct {
	mu      sync.RWMutex
	events  []Event
	floor   ID
	size    int // events kept at least (until the byte budget says otherwise)
	budget  int // bytes held at most; <= 0: no byte bound
	bytes   int // bytes held now (eventBytes summed)
	pageMax int // bytes one read returns at most (<= 0: no bound)
}

func newTail(size, budget, pageMax int, floor ID) *tail {
	return &tail{size: size, budget: budget, pageMax: pageMax, floor: floor, events: make([]Event, 0, 2*max(size, 0))}
}

// eventBytes is what an event costs in memory, roughly: its bytes and a
// fixed overhead for the struct and slice headers.
func eventBytes(e *Event) int { return len(e.Data) + len(e.Name) + len(e.User) + 96 }

// add appends events just committed, in id order, evicting the oldest.
func (t *tail) add(evs []Event) {
	if t.size <= 0 || len(evs) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, evs...)
	for i := range evs {
		t.bytes += eventBytes(&evs[i])
	}
	// Evict only once twice the size (or the whole byte budget) is held,
	// down to the size and half the budget, so the copy-down costs O(1)
	// per event instead of moving the whole cache on every commit.
	overBudget := t.budget > 0 && t.bytes > t.budget
	if len(t.events) < 2*t.size && !overBudget {
		return
	}
	over := max(len(t.events)-t.size, 0)
	drop := 0
	for i := range over {
		drop += eventBytes(&t.events[i])
	}
	for t.budget > 0 && over < len(t.events) && t.bytes-drop > t.budget/2 {
		drop += eventBytes(&t.events[over])
		over++
	}
	if over == 0 {
		return
	}
	t.floor = t.events[over-1].ID
	t.bytes -= drop
	// slices.Delete clears the vacated elements, so evicted data is freed.
	t.events = slices.Delete(t.events, 0, over)
}

// raise moves floor up to id (retention deleted everything up to it) and
// drops the events at or below it.
func (t *tail) raise(id ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id.Compare(t.floor) <= 0 {
		return
	}
	t.floor = id
	i, _ := slices.BinarySearchFunc(t.events, id, func(e Event, id ID) int { return e.ID.Compare(id) })
	for i < len(t.events) && t.events[i].ID.Compare(id) <= 0 {
		i++
	}
	for j := range i {
		t.bytes -= eventBytes(&t.events[j])
	}
	t.events = slices.Delete(t.events, 0, i)
}

// read serves ReadAfter from memory when it can; ok is false when after
// is below the floor, or above every event here (committed and not yet
// added, or never issued): the file answers those. The returned events
// share Data with the tail: they are never modified.
func (t *tail) read(user string, after ID, limit int) (p Page, ok bool) {
	if t.size <= 0 {
		return Page{}, false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if after.Compare(t.floor) < 0 {
		return Page{}, false
	}
	p.Last = t.floor
	if n := len(t.events); n > 0 {
		p.Last = t.events[n-1].ID
	}
	i, found := slices.BinarySearchFunc(t.events, after, func(e Event, id ID) int { return e.ID.Compare(id) })
	if after.Compare(p.Last) > 0 {
		return Page{}, false
	}
	if found {
		i++
	}
	size := 0
	for ; i < len(t.events) && len(p.Events) < limit; i++ {
		if e := t.events[i]; e.User == "" || e.User == user {
			if t.pageMax > 0 && size >= t.pageMax {
				p.Truncated = true
				break
			}
			p.Events = append(p.Events, e)
			size += len(e.Data) + len(e.Name)
		}
	}
	return p, true
}
