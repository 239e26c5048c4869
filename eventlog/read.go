package eventlog

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Event is one stored event.
type Event struct {
	ID   ID
	User string // "" for a broadcast
	Name string // "" for the default "message"
	Data []byte // compact JSON
	Time time.Time
}

// Gap reports that retention deleted events a reader asked for: one hole,
// from the resume point up to Through.
type Gap struct {
	// Oldest is the first id held after the resume point among the events
	// the reader can receive (its user's and broadcasts): the first event
	// of the page; zero when none is held yet.
	Oldest ID
	// Through is the newest id retention deleted in the hole. A reader
	// that reports each hole once remembers it: a later page with the
	// same Through is the same hole. Resuming from Through itself is
	// not a gap.
	Through ID
}

// Page is the answer to ReadAfter.
type Page struct {
	// Events are the events after the requested id, oldest first.
	Events []Event
	// Gap is set when events after the requested id were deleted.
	Gap *Gap
	// Last is the newest id committed when the page was read.
	Last ID
	// Truncated is set when the page stopped at Options.PageBytes before
	// its count limit: read again after its last event for the rest.
	Truncated bool
	// Unknown is set when the resume point is a place in the id order
	// this log never issued: above its newest id, or inside a restart
	// hole (restarts.go: say, an id from after the backup this file was
	// restored from, however many events came since), and not covered by
	// retention's marks. Events are still the events after it; a reader
	// that took the resume point from a client reports it and goes on
	// from Last instead. Any id this log did issue (any user's, deleted
	// or not) is a place to resume from.
	Unknown bool
}

// Read limits.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
	// DefaultPageBytes bounds the event data one read returns, whatever
	// its count limit: 256 KiB, a few events of the largest size or
	// hundreds of small ones.
	DefaultPageBytes = 256 << 10
)

// ReadAfter returns up to limit events with ids greater than after that are
// addressed to user or broadcast, merged in id order. after == ZeroID reads
// from the oldest retained event. user "" reads broadcasts only. limit <= 0
// means DefaultLimit; it is capped at MaxLimit. A page also stops once it
// holds Options.PageBytes of data (at least one event is returned), and
// then says so in Truncated. Event.Data may be shared with other readers:
// never modify it.
func (l *Log) ReadAfter(user string, after ID, limit int) (Page, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	if l.isClosed() {
		return Page{}, ErrClosed // the tail outlives the file
	}
	if p, ok := l.tail.read(user, after, limit); ok {
		// The tail answers only at or above its floor, where no mark is.
		p.Unknown = after != ZeroID && l.inHole(after)
		return p, nil
	}
	return l.readFile(user, after, limit)
}

// readFile is ReadAfter from the bbolt file, for reads the tail cannot
// answer.
func (l *Log) readFile(user string, after ID, limit int) (Page, error) {
	var p Page
	err := l.db.View(func(tx *bolt.Tx) error {
		meta, j := tx.Bucket(bucketMeta), tx.Bucket(bucketJournal)
		p.Last = newest(meta, j)
		var ub, bb *bolt.Bucket
		bb = tx.Bucket(bucketBroadcast)
		if user != "" {
			ub = tx.Bucket(bucketUsers).Bucket([]byte(user))
		}
		// Marks: the newest id retention deleted from each bucket; every
		// older id of that bucket is deleted too.
		// ZeroID means "from the oldest retained": never a gap.
		var through ID
		if after == ZeroID {
			return mergeAfter(&p, user, ub, bb, j, after, limit, l.opts.PageBytes, l.damagedRecord)
		}
		covered := false
		for _, mark := range []ID{getID(meta, metaKey(metaGap, user)), getID(meta, metaKey(metaGap, ""))} {
			if after.Compare(mark) < 0 && mark.Compare(through) > 0 {
				through = mark
			}
			covered = covered || after.Compare(mark) <= 0
		}
		p.Unknown = !covered && (after.Compare(p.Last) > 0 || l.inHole(after))
		if err := mergeAfter(&p, user, ub, bb, j, after, limit, l.opts.PageBytes, l.damagedRecord); err != nil {
			return err
		}
		if through != ZeroID {
			p.Gap = &Gap{Through: through}
			if len(p.Events) > 0 {
				p.Gap.Oldest = p.Events[0].ID
			}
		}
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("read %q after %s: %w", user, after, closedErr(err))
	}
	return p, nil
}

// mergeAfter seeks the user's bucket, the broadcast bucket and the journal
// to the first key after `after` and merges them into p.Events in id order.
//
// The journal holds only ids newer than every filed event, so it is read
// (and other users' entries in it skipped) only once the merge reaches its
// range: replaying old history never scans it.
//
// A record that fails to decode or its checksum is never returned: it is
// handed to damaged (may be nil) and the merge goes on past it.
func mergeAfter(p *Page, user string, ub, bb, j *bolt.Bucket, after ID, limit, maxBytes int, damaged func(k []byte, err error)) error {
	cs := [3]cursor{seekAfter(ub, after), seekAfter(bb, after), seekAfter(j, after)}
	journal := &cs[2]
	size := 0
	for len(p.Events) < limit {
		var c *cursor
		for i := range cs {
			if cs[i].k != nil && (c == nil || bytes.Compare(cs[i].k, c.k) < 0) {
				c = &cs[i]
			}
		}
		if c == nil {
			return nil
		}
		owner, rec := user, c.v
		switch {
		case c == journal:
			who, r, err := splitJournal(c.v)
			if err != nil {
				if damaged != nil {
					damaged(c.k, fmt.Errorf("journal entry: %w", err))
				}
				c.next()
				continue
			}
			if len(who) > 0 && string(who) != user {
				c.next()
				continue
			}
			rec = r
			if len(who) == 0 {
				owner = ""
			}
		case c == &cs[1]:
			owner = ""
		}
		if maxBytes > 0 && size >= maxBytes {
			p.Truncated = true
			return nil
		}
		e, err := decodeEvent(c.k, rec)
		if err != nil {
			if damaged != nil {
				damaged(c.k, err)
			}
			c.next()
			continue
		}
		e.User = owner
		p.Events = append(p.Events, e)
		size += len(e.Data) + len(e.Name)
		c.next()
	}
	return nil
}

type cursor struct {
	c    *bolt.Cursor
	k, v []byte
}

func (c *cursor) next() { c.k, c.v = c.c.Next() }

func seekAfter(b *bolt.Bucket, after ID) cursor {
	if b == nil {
		return cursor{}
	}
	c := cursor{c: b.Cursor()}
	c.k, c.v = c.c.Seek(after[:])
	if c.k != nil && bytes.Equal(c.k, after[:]) {
		c.next()
	}
	return c
}

// oldestFor returns the oldest id held among the events user can receive.
func oldestFor(user string, ub, bb, j *bolt.Bucket) (ID, error) {
	o := oldest(ub, bb)
	if o != ZeroID {
		return o, nil // filed events are older than any journal entry
	}
	var p Page
	err := mergeAfter(&p, user, nil, nil, j, ZeroID, 1, 0, nil)
	if len(p.Events) > 0 {
		o = p.Events[0].ID
	}
	return o, err
}

// decodeEvent copies a stored event out of the transaction's memory.
func decodeEvent(k, v []byte) (Event, error) {
	var e Event
	if len(k) != len(e.ID) {
		return e, fmt.Errorf("decode key %x: %w", k, errCorrupt)
	}
	copy(e.ID[:], k)
	ns, name, data, err := decodeRecord(k, v)
	if err != nil {
		return e, fmt.Errorf("event %s: %w", e.ID, err)
	}
	e.Name = name
	e.Data = bytes.Clone(data)
	e.Time = time.Unix(0, ns)
	return e, nil
}

// oldest returns the smallest first key of the given buckets.
func oldest(bs ...*bolt.Bucket) ID {
	var o ID
	for _, b := range bs {
		if b == nil {
			continue
		}
		if k, _ := b.Cursor().First(); k != nil && (o == ZeroID || bytes.Compare(k, o[:]) < 0) {
			copy(o[:], k)
		}
	}
	return o
}
