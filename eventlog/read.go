package eventlog

import (
	"bytes"
	"fmt"
	"io"
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

// Gap reports that retention deleted events a reader asked for.
type Gap struct {
	// Oldest is the oldest id still held among the events the reader can
	// receive (its user's and broadcasts); zero when none is held.
	Oldest ID
}

// Page is the answer to ReadAfter.
type Page struct {
	// Events are the events after the requested id, oldest first.
	Events []Event
	// Gap is set when events after the requested id were deleted.
	Gap *Gap
	// Last is the newest id committed when the page was read. A resume
	// point above it was never issued by this log.
	Last ID
}

// Read limits.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// ReadAfter returns up to limit events with ids greater than after that are
// addressed to user or broadcast, merged in id order. after == ZeroID reads
// from the oldest retained event. user "" reads broadcasts only. limit <= 0
// means DefaultLimit; it is capped at MaxLimit. Event.Data may be shared
// with other readers: never modify it.
func (l *Log) ReadAfter(user string, after ID, limit int) (Page, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	if l.isClosed() {
		return Page{}, ErrClosed // the tail outlives the file
	}
	if p, ok := l.tail.read(user, after, limit); ok {
		return p, nil
	}
	return l.readFile(user, after, limit)
}

// readFile is ReadAfter from the bbolt file, for reads the tail cannot
// answer.
func (l *Log) readFile(user string, after ID, limit int) (Page, error) {
	var p Page
	err := l.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		p.Last = getID(meta, keyLast)
		var ub, bb *bolt.Bucket
		bb = tx.Bucket(bucketBroadcast)
		if user != "" {
			ub = tx.Bucket(bucketUsers).Bucket([]byte(user))
		}
		if after != ZeroID && (bytesLess(after[:], getID(meta, metaKey('g', user)).Bytes()) ||
			bytesLess(after[:], getID(meta, metaKey('g', "")).Bytes())) {
			p.Gap = &Gap{Oldest: oldest(ub, bb)}
		}
		return mergeAfter(&p, user, ub, bb, after, limit)
	})
	if err != nil {
		return Page{}, fmt.Errorf("read %q after %s: %w", user, after, closedErr(err))
	}
	return p, nil
}

// mergeAfter seeks both buckets to the first key after `after` and merges
// them into p.Events in id order.
func mergeAfter(p *Page, user string, ub, bb *bolt.Bucket, after ID, limit int) error {
	uc, bc := seekAfter(ub, after), seekAfter(bb, after)
	for len(p.Events) < limit {
		var c *cursor
		switch {
		case uc.k == nil && bc.k == nil:
			return nil
		case uc.k == nil:
			c = &bc
		case bc.k == nil:
			c = &uc
		case bytes.Compare(uc.k, bc.k) < 0:
			c = &uc
		default:
			c = &bc
		}
		e, err := decodeEvent(c.k, c.v)
		if err != nil {
			return err
		}
		if c == &uc {
			e.User = user
		}
		p.Events = append(p.Events, e)
		c.next()
	}
	return nil
}

type cursor struct {
	c    *bolt.Cursor
	k, v []byte
}

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

func (c *cursor) next() { c.k, c.v = c.c.Next() }

// decodeEvent copies a stored event out of the transaction's memory.
func decodeEvent(k, v []byte) (Event, error) {
	var e Event
	if len(k) != len(e.ID) {
		return e, fmt.Errorf("decode key %x: %w", k, errCorrupt)
	}
	copy(e.ID[:], k)
	ns, name, data, err := decodeRecord(v)
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

// Snapshot writes a consistent copy of the whole file to w while appends
// go on. It holds one read transaction for the duration of the copy.
func (l *Log) Snapshot(w io.Writer) (int64, error) {
	return l.SnapshotSized(w, nil)
}

// SnapshotSized is Snapshot, calling begin with the snapshot's exact size
// before the first byte is written (an HTTP handler sets Content-Length
// there). An error from begin aborts the snapshot.
func (l *Log) SnapshotSized(w io.Writer, begin func(size int64) error) (int64, error) {
	var n int64
	err := l.db.View(func(tx *bolt.Tx) error {
		if begin != nil {
			if err := begin(tx.Size()); err != nil {
				return err
			}
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("snapshot %s: %w", l.path, closedErr(err))
	}
	return n, nil
}

// Stats describes the log's contents.
type Stats struct {
	Users      int    // users holding at least one event
	Events     uint64 // events held, broadcasts included
	Broadcasts uint64 // broadcast events held
	FileBytes  int64  // size of the data file
	Oldest     ID     // oldest id held (zero if empty)
	Newest     ID     // newest id ever committed (zero if none)
	Deleted    uint64 // events deleted by retention since Open
}

// Stats counts the log's contents. It visits every user bucket, so it is
// meant for metrics scrapes, not hot paths.
func (l *Log) Stats() (Stats, error) {
	var s Stats
	err := l.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		s.Newest = getID(meta, keyLast)
		s.FileBytes = tx.Size()
		bb := tx.Bucket(bucketBroadcast)
		s.Broadcasts = getUint(meta, metaKey('c', ""))
		s.Events = s.Broadcasts
		s.Oldest = oldest(bb)
		users := tx.Bucket(bucketUsers)
		return users.ForEachBucket(func(name []byte) error {
			s.Users++
			s.Events += getUint(meta, metaKey('c', string(name)))
			if o := oldest(users.Bucket(name)); s.Oldest == ZeroID || (o != ZeroID && o.Compare(s.Oldest) < 0) {
				s.Oldest = o
			}
			return nil
		})
	})
	if err != nil {
		return Stats{}, fmt.Errorf("stats %s: %w", l.path, closedErr(err))
	}
	s.Deleted = l.deleted.Load()
	return s, nil
}
