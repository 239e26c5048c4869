package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The journal is where appends land: one bucket keyed by id, so a group
// commit writes a few sequential pages however many users it touches. A
// background mover later files journal entries into their users' buckets
// in large batches, dirtying each user's page once per batch instead of
// once per commit. An event is in exactly one of the two places in any
// transaction, and reads merge both, so the move is invisible to readers.
//
// Journal value: uvarint(len(user)), user ("" = broadcast), then a record.

// defaultMoveDelay lets the journal gather entries before a move (see
// Options.MoveDelay), and moveBatch bounds one move transaction. A trickle
// of appends is left to gather longer: a move waits for moveMin entries or
// for moveWait × MoveDelay, whichever comes first. Every move is an
// fsync'd commit that appends queue behind, so at 20 events/s moving every
// 200 ms put one append in a hundred behind a move: the p99 of publish,
// and of publish-to-receive.
const (
	defaultMoveDelay = 200 * time.Millisecond
	moveBatch        = 8192
	moveMin          = 1024
	moveWait         = 10
)

// appendJournalHeader appends what precedes the record in a journal entry.
func appendJournalHeader(dst []byte, user string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(user)))
	return append(dst, user...)
}

// splitJournal returns a journal entry's user ("" = broadcast) and
// record, both slices of v: the mover and readers pass over every entry,
// most of them another user's.
func splitJournal(v []byte) (user, record []byte, err error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)-k) {
		return nil, nil, fmt.Errorf("journal entry: %w", errCorrupt)
	}
	return v[k : k+int(n)], v[k+int(n):], nil
}

// initJournalCounts counts the journal's entries by user, converts the
// counts of a file from before keyCountsFiled, and returns the newest id
// on disk: appends leave keyLast to the mover, so the journal may hold
// newer ones.
func (l *Log) initJournalCounts(tx *bolt.Tx) (last ID, err error) {
	meta, j := tx.Bucket(bucketMeta), tx.Bucket(bucketJournal)
	l.inJournal = make(map[string]uint64)
	if err := j.ForEach(func(_, v []byte) error {
		if user, _, err := splitJournal(v); err == nil {
			l.inJournal[string(user)]++
		}
		return nil
	}); err != nil {
		return last, fmt.Errorf("count journal: %w", err)
	}
	if meta.Get(keyCountsFiled) == nil {
		for user, n := range l.inJournal {
			k := metaKey(metaCount, user)
			if err := putUint(meta, k, getUint(meta, k)-min(n, getUint(meta, k))); err != nil {
				return last, fmt.Errorf("convert counts: %w", err)
			}
		}
		if err := meta.Put(keyCountsFiled, []byte{1}); err != nil {
			return last, fmt.Errorf("convert counts: %w", err)
		}
	}
	return newest(meta, j), nil
}

// newest is the newest id on disk: keyLast, or the journal's last entry.
func newest(meta, journal *bolt.Bucket) ID {
	last := getID(meta, keyLast)
	if k, _ := journal.Cursor().Last(); len(k) == len(last) && bytes.Compare(k, last[:]) > 0 {
		copy(last[:], k)
	}
	return last
}

// held is how many events user holds: filed ones and journal entries.
// In a write transaction run by update it is exact.
func (l *Log) held(meta *bolt.Bucket, user string) uint64 {
	l.inJournalMu.Lock()
	n := l.inJournal[user]
	l.inJournalMu.Unlock()
	return getUint(meta, metaKey(metaCount, user)) + n
}

// update runs fn in a write transaction and then, only once it has
// committed, done: both under txMu, which every write transaction that
// reads or changes the journal counts holds, so those counts agree with
// the file in each of them. Changing them inside fn and taking them back after a
// failed commit left a window, once bbolt had let go of its writer lock,
// where a trim counted a group the disk never got and deleted events
// within the user's limit.
func (l *Log) update(fn func(*bolt.Tx) error, done func()) error {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	if err := l.db.Update(fn); err != nil {
		return err
	}
	if done != nil {
		done()
	}
	return nil
}

// journalAdd adds (or, with sub, takes away) per-user journal counts.
func (l *Log) journalAdd(counts map[string]uint64, sub bool) {
	l.inJournalMu.Lock()
	defer l.inJournalMu.Unlock()
	for user, n := range counts {
		if sub {
			n = -min(n, l.inJournal[user])
		}
		if v := l.inJournal[user] + n; v == 0 {
			delete(l.inJournal, user)
		} else {
			l.inJournal[user] = v
		}
	}
}

// kickMover tells the mover the journal has new entries.
func (l *Log) kickMover() {
	select {
	case l.moveKick <- struct{}{}:
	default:
	}
}

func (l *Log) moveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.moveKick:
		}
		deadline := time.Now().Add(moveWait * l.opts.MoveDelay)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(l.opts.MoveDelay):
			}
			if l.journaled.Load() >= moveMin || !time.Now().Before(deadline) {
				break
			}
		}
		if err := l.drainJournal(ctx); err != nil && ctx.Err() == nil {
			l.moveFailed(err)
		}
	}
}

// drainJournal moves journal entries until the journal is empty.
func (l *Log) drainJournal(ctx context.Context) error {
	for ctx.Err() == nil {
		n, err := l.moveOnce()
		if err != nil || n < moveBatch {
			return err
		}
	}
	return ctx.Err()
}

// moveOnce files up to moveBatch of the oldest journal entries into their
// buckets in one transaction.
func (l *Log) moveOnce() (int, error) {
	n, damaged := 0, uint64(0)
	var moved map[string]uint64
	err := l.update(func(tx *bolt.Tx) error {
		damaged, moved = 0, make(map[string]uint64)
		j, meta := tx.Bucket(bucketJournal), tx.Bucket(bucketMeta)
		dest := make(map[string]*filing)
		var keys [][]byte
		var a arena // bbolt keeps what Put is given until the commit
		c := j.Cursor()
		for k, v := c.First(); k != nil && len(keys) < moveBatch; k, v = c.Next() {
			user, rec, err := splitJournal(v)
			if err != nil {
				// Damaged on disk: set it aside so the rest moves on.
				if err := setAside(tx, k, v); err != nil {
					return err
				}
				l.log.Error("damaged journal entry set aside", "path", l.path, "key", fmt.Sprintf("%x", k), "err", err)
				damaged++
				keys = append(keys, bytes.Clone(k))
				continue
			}
			f := dest[string(user)]
			if f == nil {
				b, err := filingBucket(tx, string(user))
				if err != nil {
					return err
				}
				f = &filing{b: b}
				dest[string(user)] = f
			}
			k = a.clone(k)
			if err := f.b.Put(k, a.clone(rec)); err != nil {
				return fmt.Errorf("file %x for %q: %w", k, user, err)
			}
			keys = append(keys, k)
			f.n++
		}
		for user, f := range dest {
			moved[user] = f.n
		}
		if len(keys) == 0 {
			return nil
		}
		// The newest id leaves the journal: keyLast must hold it now.
		if last := getID(meta, keyLast); bytes.Compare(keys[len(keys)-1], last[:]) > 0 {
			if err := meta.Put(keyLast, keys[len(keys)-1]); err != nil {
				return fmt.Errorf("last id: %w", err)
			}
		}
		// One cursor for every delete: Bucket.Delete would make a cursor,
		// and grow its stack, per key.
		dc := j.Cursor()
		for _, k := range keys {
			if got, _ := dc.Seek(k); !bytes.Equal(got, k) {
				return fmt.Errorf("delete journal %x: %w", k, errCorrupt)
			}
			if err := dc.Delete(); err != nil {
				return fmt.Errorf("delete journal %x: %w", k, err)
			}
		}
		for user, m := range moved {
			k := metaKey(metaCount, user)
			if err := putUint(meta, k, getUint(meta, k)+m); err != nil {
				return fmt.Errorf("count %q: %w", user, err)
			}
		}
		n = len(keys)
		return nil
	}, func() { l.journalAdd(moved, true) })
	if err != nil {
		return 0, fmt.Errorf("move journal: %w", closedErr(err))
	}
	l.bg.damaged.Add(damaged)
	// Entries a previous run left are not counted: never below zero.
	if v := l.journaled.Add(-int64(n)); v < 0 {
		l.journaled.CompareAndSwap(v, 0)
	}
	return n, nil
}

// filing is where the mover files one user's entries, and how many.
type filing struct {
	b *bolt.Bucket
	n uint64
}

// arena copies many small byte slices into a few large blocks: a move
// copies two slices per entry, which would otherwise be two allocations.
type arena struct{ block []byte }

const arenaBlock = 64 << 10

func (a *arena) clone(b []byte) []byte {
	if cap(a.block)-len(a.block) < len(b) {
		a.block = make([]byte, 0, max(arenaBlock, len(b)))
	}
	start := len(a.block)
	a.block = append(a.block, b...)
	return a.block[start:len(a.block):len(a.block)]
}
