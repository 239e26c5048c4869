package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Stats describes the log's contents.
type Stats struct {
	Users       int    // users holding at least one event
	Events      uint64 // events held, broadcasts included
	Broadcasts  uint64 // broadcast events held
	FileBytes   int64  // size of the data file
	Oldest      ID     // oldest id held (zero if empty)
	Newest      ID     // newest id ever committed (zero if none)
	Deleted     uint64 // events deleted by retention since Open
	KeysExpired uint64 // idempotency keys forgotten since Open
	// Failures of the background work since Open, each logged once: a
	// move of the journal, a retention pass, a key expiry pass.
	MoveErrors, RetentionErrors, KeyExpiryErrors uint64
	// DamagedRecords counts stored records found damaged since Open
	// (logged, never served).
	DamagedRecords uint64
	// Appends since Open: events stored for users and as broadcasts, and
	// idempotent repeats answered with a stored id (storing nothing).
	StoredUser, StoredBroadcast, Repeats uint64
	// Commits is how many durable transactions stored those events.
	Commits uint64
}

// Counts are the log's figures kept current as it changes: reading them
// opens no transaction and walks nothing, so /metrics can be scraped as
// often as anyone likes.
type Counts struct {
	Users      int64  // users holding at least one event
	Events     uint64 // events held, broadcasts included
	Broadcasts uint64 // broadcast events held
	FileBytes  int64  // size of the data file
	Deleted    uint64 // events deleted by retention since Open

	// The background work's figures since Open, as in Stats.
	KeysExpired                                  uint64
	MoveErrors, RetentionErrors, KeyExpiryErrors uint64
	DamagedRecords                               uint64
	// Appends since Open: events stored for users and as broadcasts, and
	// idempotent repeats answered with a stored id (storing nothing).
	StoredUser, StoredBroadcast, Repeats uint64
	// Commits is how many durable transactions stored those events.
	Commits uint64
}

// counters back Counts. Commits and retention update them once their
// transaction is durable; Open seeds them from the file.
type counters struct {
	users      atomic.Int64
	events     atomic.Uint64
	broadcasts atomic.Uint64
}

// Counts returns the log's current figures without touching the file's
// pages (the size is one stat call).
func (l *Log) Counts() Counts {
	c := Counts{
		Users:      l.counts.users.Load(),
		Events:     l.counts.events.Load(),
		Broadcasts: l.counts.broadcasts.Load(),
		Deleted:    l.deleted.Load(),

		KeysExpired:     l.bg.keysExpired.Load(),
		MoveErrors:      l.bg.moveErrors.Load(),
		RetentionErrors: l.bg.retentionErrors.Load(),
		KeyExpiryErrors: l.bg.keyExpiryErrors.Load(),
		DamagedRecords:  l.bg.damaged.Load(),
		StoredUser:      l.storedUser.Load(),
		StoredBroadcast: l.storedBroadcast.Load(),
		Repeats:         l.repeats.Load(),
		Commits:         l.commits.Load(),
	}
	if fi, err := os.Stat(l.path); err == nil {
		c.FileBytes = fi.Size()
	}
	return c
}

// seedCounts sets the counters from a full count of the file, at Open.
func (l *Log) seedCounts() error {
	st, err := l.Stats()
	if err != nil {
		return err
	}
	l.counts.users.Store(int64(st.Users))
	l.counts.events.Store(st.Events)
	l.counts.broadcasts.Store(st.Broadcasts)
	return nil
}

// added applies a commit's new events per user (and users whose count
// went from zero) to the counters.
func (c *counters) added(perUser map[string]uint64, newUsers int64) {
	for u, n := range perUser {
		c.events.Add(n)
		if u == "" {
			c.broadcasts.Add(n)
		}
	}
	c.users.Add(newUsers)
}

// removed applies a retention pass over one user's bucket.
func (c *counters) removed(user string, before, after uint64) {
	n := before - min(before, after)
	c.events.Add(^(n - 1)) // subtract n
	if user == "" {
		c.broadcasts.Add(^(n - 1))
	} else if before > 0 && after == 0 {
		c.users.Add(-1)
	}
}

// Stats counts the log's contents. It visits every user bucket, so it is
// meant for checks and tools, not for metrics scrapes (use Counts).
func (l *Log) Stats() (Stats, error) {
	var s Stats
	err := l.db.View(func(tx *bolt.Tx) error {
		meta, j := tx.Bucket(bucketMeta), tx.Bucket(bucketJournal)
		s.Newest = newest(meta, j)
		s.FileBytes = tx.Size()
		// Counts hold filed events; the journal's entries are counted here,
		// in the same snapshot.
		journal := make(map[string]uint64)
		if err := j.ForEach(func(_, v []byte) error {
			if user, _, err := splitJournal(v); err == nil {
				journal[string(user)]++
			}
			return nil
		}); err != nil {
			return err
		}
		// Filed events are older than journal entries: the journal's
		// first entry counts only when nothing is filed.
		s.Oldest = oldest(tx.Bucket(bucketBroadcast), j)
		users := tx.Bucket(bucketUsers)
		if err := users.ForEachBucket(func(name []byte) error {
			if o := oldest(users.Bucket(name)); o != ZeroID && (s.Oldest == ZeroID || o.Compare(s.Oldest) < 0) {
				s.Oldest = o
			}
			return nil
		}); err != nil {
			return err
		}
		c := meta.Cursor()
		prefix := metaKey(metaCount, "")
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) == 8 {
				journal[string(k[len(prefix):])] += binary.BigEndian.Uint64(v)
			}
		}
		for user, n := range journal {
			s.Events += n
			switch {
			case user == "":
				s.Broadcasts = n
			case n > 0:
				s.Users++
			}
		}
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("stats %s: %w", l.path, closedErr(err))
	}
	s.Deleted = l.deleted.Load()
	s.KeysExpired = l.bg.keysExpired.Load()
	s.MoveErrors = l.bg.moveErrors.Load()
	s.RetentionErrors = l.bg.retentionErrors.Load()
	s.KeyExpiryErrors = l.bg.keyExpiryErrors.Load()
	s.DamagedRecords = l.bg.damaged.Load()
	s.StoredUser, s.StoredBroadcast, s.Repeats = l.storedUser.Load(), l.storedBroadcast.Load(), l.repeats.Load()
	s.Commits = l.commits.Load()
	return s, nil
}
