package eventlog

import (
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Restart holes. Each Open moves the id generator past the current
// millisecond and records the ids it skipped, (newest id on disk, that
// point], as never issued by this file. A resume point inside such a hole
// can only come from another history of the file — typically ids issued
// after the backup a file was restored from — and is reported as unknown
// however many events this file stores after it. (Ids are time ordered,
// so every new id sorts above the lost ones: without the record, the
// next publish would make a lost id look like a place to resume from.)
//
// bucketRestarts maps the hole's top (the generator's seed) to its
// bottom, 16 bytes each. There is one entry per start: a handful of bytes.

var bucketRestarts = []byte("restarts")

// hole is a range of ids this file never issued: (lo, hi].
type hole struct{ lo, hi ID }

// startEpoch records this start's hole, if the clock is past every id
// the file issued or skipped, and returns the generator's seed and every
// hole recorded so far. The seed is never below an earlier hole's top: a
// start that issued nothing, with the clock ahead, leaves a hole above
// the newest id, and ids issued inside it after the clock came back
// would read as never issued.
func startEpoch(tx *bolt.Tx, last ID, now time.Time) (ID, []hole, error) {
	b, err := tx.CreateBucketIfNotExists(bucketRestarts)
	if err != nil {
		return last, nil, fmt.Errorf("create bucket %s: %w", bucketRestarts, err)
	}
	var holes []hole
	if err := b.ForEach(func(k, v []byte) error {
		var h hole
		if len(k) == len(h.hi) && len(v) == len(h.lo) {
			copy(h.hi[:], k)
			copy(h.lo[:], v)
			holes = append(holes, h)
		}
		return nil
	}); err != nil {
		return last, nil, fmt.Errorf("read restarts: %w", err)
	}
	seed := last
	if n := len(holes); n > 0 && holes[n-1].hi.Compare(seed) > 0 {
		seed = holes[n-1].hi // keys sort: the last hole is the highest
	}
	// The hole's top is the last id of the current millisecond, so it
	// also covers ids another history issued in this very millisecond
	// (a restore that starts fast, right after the backup).
	var hi ID
	for i := 6; i < len(hi); i++ {
		hi[i] = 0xff
	}
	if err := hi.SetTime(uint64(max(now.UnixMilli(), 0))); err == nil && hi.Compare(seed) > 0 {
		// bbolt keeps the slices until the commit: seed changes below.
		lo := seed
		if err := b.Put(hi[:], lo[:]); err != nil {
			return last, nil, fmt.Errorf("record restart: %w", err)
		}
		holes = append(holes, hole{lo: seed, hi: hi})
		seed = hi
	}
	return seed, holes, nil
}

// inHole reports whether id lies in a range this file never issued.
func (l *Log) inHole(id ID) bool {
	i, _ := slices.BinarySearchFunc(l.holes, id, func(h hole, id ID) int { return h.hi.Compare(id) })
	return i < len(l.holes) && l.holes[i].lo.Compare(id) < 0
}
