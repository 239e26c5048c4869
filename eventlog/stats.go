package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Stats describes the log's contents.
type Stats struct {
	Users      int    // users holding at least one event
	Events     uint64 // events held, broadcasts included
	Broadcasts uint64 // broadcast events held
	FileBytes  int64  // size of the data file
	Oldest     ID     // oldest id held (zero if empty)
	Newest     ID     // newest id ever committed (zero if none)
	Deleted    uint64 // events deleted by retention since Open
	// Appends since Open: events stored for users and as broadcasts, and
	// idempotent repeats answered with a stored id (storing nothing).
	StoredUser, StoredBroadcast, Repeats uint64
}

// Stats counts the log's contents. It visits every user bucket, so it is
// meant for metrics scrapes, not hot paths.
func (l *Log) Stats() (Stats, error) {
	var s Stats
	err := l.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		s.Newest = getID(meta, keyLast)
		s.FileBytes = tx.Size()
		s.Broadcasts = getUint(meta, metaKey(metaCount, ""))
		s.Events = s.Broadcasts
		// Filed events are older than journal entries: the journal's
		// first entry counts only when nothing is filed.
		s.Oldest = oldest(tx.Bucket(bucketBroadcast), tx.Bucket(bucketJournal))
		users := tx.Bucket(bucketUsers)
		if err := users.ForEachBucket(func(name []byte) error {
			if o := oldest(users.Bucket(name)); o != ZeroID && (s.Oldest == ZeroID || o.Compare(s.Oldest) < 0) {
				s.Oldest = o
			}
			return nil
		}); err != nil {
			return err
		}
		// Users are counted from their event counts: a user whose events
		// are all still in the journal has no bucket yet.
		c := meta.Cursor()
		prefix := metaKey(metaCount, "")
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) > len(prefix) && len(v) == 8 && binary.BigEndian.Uint64(v) > 0 {
				s.Users++
				s.Events += binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("stats %s: %w", l.path, closedErr(err))
	}
	s.Deleted = l.deleted.Load()
	s.StoredUser, s.StoredBroadcast, s.Repeats = l.storedUser.Load(), l.storedBroadcast.Load(), l.repeats.Load()
	return s, nil
}
