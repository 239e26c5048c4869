package stream

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

// Frame cache bounds: a fan-out of live events touches only the newest
// few, and a replay walks forward, so a few thousand slots cover both.
const (
	cacheSlots  = 4096     // a power of two
	cacheBudget = 32 << 20 // bytes of frames held at most (roughly: updates race)
)

// frameCache shares formatted frames between subscribers: the first one to
// send an event formats it, the rest copy its bytes to their sockets. It is
// a direct-mapped table of immutable frames indexed by the id's low bits,
// read with one atomic load; ids issued in one millisecond differ in their
// low bits by one, so a burst fills consecutive slots without collisions.
type frameCache struct {
	slots [cacheSlots]atomic.Pointer[frame]
	bytes atomic.Int64
}

type frame struct {
	id  eventlog.ID
	b   []byte
	err error
}

// get returns e's frame, formatting and caching it on a miss. fresh
// reports that this call formatted it (the caller logs a bad event once,
// not once per subscriber).
func (c *frameCache) get(e *eventlog.Event) (b []byte, fresh bool, err error) {
	slot := &c.slots[binary.BigEndian.Uint16(e.ID[14:])&(cacheSlots-1)]
	old := slot.Load()
	if old != nil && old.id == e.ID {
		return old.b, false, old.err
	}
	f := &frame{id: e.ID}
	f.b, f.err = appendEvent(make([]byte, 0, len(e.Data)+len(e.Name)+48), e)
	delta := int64(len(f.b))
	if old != nil {
		delta -= int64(len(old.b))
	}
	if delta <= 0 || c.bytes.Load()+delta <= cacheBudget {
		if slot.CompareAndSwap(old, f) {
			c.bytes.Add(delta)
		}
	}
	return f.b, true, f.err
}

// appendEvent formats a logged event's frame.
func appendEvent(dst []byte, e *eventlog.Event) ([]byte, error) {
	var id [26]byte
	_ = e.ID.MarshalTextTo(id[:])
	return sse.AppendEvent(dst, id[:], e.Name, e.Data)
}
