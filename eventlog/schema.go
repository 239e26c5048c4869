package eventlog

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// The on-disk layout, in one place. Every bucket, key and meta kind the log
// writes is named here; the record and journal value formats are in
// record.go and journal.go.

// Bucket and key names. User buckets nest under bucketUsers; the broadcast
// bucket stands alone; bucketMeta holds the last issued id, per-bucket counts
// and gap marks; the idempotency buckets map keys to ids and expiry times.
var (
	bucketUsers     = []byte("users")
	bucketBroadcast = []byte("broadcast")
	bucketMeta      = []byte("meta")
	bucketIdem      = []byte("idem")
	bucketIdemExp   = []byte("idem-exp")
	bucketJournal   = []byte("journal")
	// bucketDamaged keeps what could not be read (a journal entry the
	// mover cannot file), by its key, for an operator to look at.
	bucketDamaged = []byte("damaged")

	keyLast = []byte("last")
	// keyCountsFiled marks a file whose counts hold filed events only:
	// appends write nothing but the journal, and the mover counts what it
	// files. Files without it (older versions) counted journal entries
	// too; Open converts them once.
	keyCountsFiled = []byte("counts-filed")
)

// Limits on what one event may hold.
const (
	MaxNameLen = 128
	MaxUserLen = 128
)

// metaKind names a per-bucket figure in bucketMeta. The byte values are
// on disk: never reuse one.
type metaKind byte

const (
	metaCount metaKind = 'c' // events filed in the bucket, uint64 (see keyCountsFiled)
	metaGap   metaKind = 'g' // the newest id retention deleted from it
)

// metaKey is the meta bucket key of one bucket's figure: the kind, a zero
// byte, then the user ("" = broadcast).
func metaKey(kind metaKind, user string) []byte {
	k := make([]byte, 0, 2+len(user))
	return append(append(k, byte(kind), 0), user...)
}

func getUint(b *bolt.Bucket, k []byte) uint64 {
	if v := b.Get(k); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func putUint(b *bolt.Bucket, k []byte, n uint64) error {
	return b.Put(k, binary.BigEndian.AppendUint64(nil, n))
}

func getID(b *bolt.Bucket, k []byte) ID {
	var id ID
	if v := b.Get(k); len(v) == len(id) {
		copy(id[:], v)
	}
	return id
}

// eventBucket returns the bucket holding user's events ("" = broadcast),
// or nil when that user has none.
func eventBucket(tx *bolt.Tx, user string) *bolt.Bucket {
	if user == "" {
		return tx.Bucket(bucketBroadcast)
	}
	return tx.Bucket(bucketUsers).Bucket([]byte(user))
}
