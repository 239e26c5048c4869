package eventlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxIdempotencyKeyLen keeps idempotency keys well inside bbolt's key size
// limit, so a long key is refused as invalid rather than failing the commit.
const maxIdempotencyKeyLen = 1024

// Idempotency keys, as stored in bucketIdem. A key names one request; the
// request's digest (target and payload) is stored with it, so the same key
// with another request is refused (ErrIdempotencyKeyReused) instead of
// answered with an id that is not its event's.
//
//	key                 value
//	0x01 key            id, time, digest              one event (Append)
//	0x02 key            id0, time, digest, id1..idN   a keyed batch (AppendKeyedBatch)
//	user 0x00 key       id, time                      before digests (read, never written)
//
// A single key's first byte is never a user's (users hold no control
// bytes) nor a broadcast's legacy 0x00, and a batch key has its own first
// byte: no single key can reach a batch's, and no batch event carries a
// key of its own. Every value starts with an id and the time, which is
// what the expiry index (bucketIdemExp: time, key) checks.
const (
	idemSingle byte = 0x01
	idemBatch  byte = 0x02

	idemHead   = 16 + 8 // id, time
	digestSize = sha256.Size

	maxExpiryScan = 16 * compactBatch
)

func singleKey(key string) []byte { return append([]byte{idemSingle}, key...) }
func batchKey(key string) []byte  { return append([]byte{idemBatch}, key...) }

// legacyKey is the key of a file written before digests: scoped to the
// target user, no digest.
func legacyKey(user, key string) []byte {
	return append(append([]byte(user), 0), key...)
}

// RequestDigest is the digest stored with an idempotency key: a hash of
// what the request asks to store, so that the key reused for another
// request is told apart. batch keeps a single publish and a batch of one
// apart. A store kept elsewhere (jetlog) uses it too, so that both stores
// judge a retry alike.
func RequestDigest(batch bool, events []Input) []byte {
	if batch {
		return digest(idemBatch, events)
	}
	return digest(idemSingle, events)
}

// digest hashes what a request asks to store: for each event its target,
// name and data, length-prefixed so no two requests share a digest. kind
// keeps a single publish and a batch of one apart.
func digest(kind byte, events []Input) []byte {
	h := sha256.New()
	var buf []byte
	buf = append(buf, kind)
	buf = binary.AppendUvarint(buf, uint64(len(events)))
	for _, in := range events {
		buf = binary.AppendUvarint(buf, uint64(len(in.User)))
		buf = append(buf, in.User...)
		buf = binary.AppendUvarint(buf, uint64(len(in.Name)))
		buf = append(buf, in.Name...)
		buf = binary.AppendUvarint(buf, uint64(len(in.Data)))
		h.Write(buf)
		h.Write(in.Data)
		buf = buf[:0]
	}
	return h.Sum(nil)
}

// lookup returns the live value stored under k: nil when absent or older
// than the window.
func (w *writer) lookup(k []byte) []byte {
	v := w.tx.Bucket(bucketIdem).Get(k)
	if len(v) < idemHead {
		return nil
	}
	if !w.log.idemLive(v, w.ageNow, w.now) {
		return nil
	}
	return v
}

// seen reports the id stored under in's idempotency key within the window.
// The same key with another request is ErrIdempotencyKeyReused.
func (w *writer) seen(in Input) (ID, bool, error) {
	var id ID
	if v := w.lookup(singleKey(in.IdempotencyKey)); v != nil {
		if len(v) < idemHead+digestSize || !bytes.Equal(v[idemHead:idemHead+digestSize], digest(idemSingle, []Input{in})) {
			return id, false, reused(in.IdempotencyKey)
		}
		copy(id[:], v)
		return id, true, nil
	}
	if v := w.lookup(legacyKey(in.User, in.IdempotencyKey)); v != nil {
		copy(id[:], v)
		return id, true, nil
	}
	return id, false, nil
}

// seenBatch fills r.ids when r's batch key was stored within the window
// and reports whether it did. The same key with another batch is
// ErrIdempotencyKeyReused.
func (w *writer) seenBatch(r *request) (bool, error) {
	v := w.lookup(batchKey(r.key))
	if v == nil {
		return w.seenLegacyBatch(r), nil
	}
	n := len(r.events)
	if len(v) != idemHead+digestSize+16*(n-1) || !bytes.Equal(v[idemHead:idemHead+digestSize], digest(idemBatch, r.events)) {
		return false, reused(r.key)
	}
	copy(r.ids[0][:], v)
	rest := v[idemHead+digestSize:]
	for i := 1; i < n; i++ {
		copy(r.ids[i][:], rest[16*(i-1):])
	}
	return true, nil
}

// seenLegacyBatch answers a batch retried across an upgrade: its events
// were keyed key#index under their users.
func (w *writer) seenLegacyBatch(r *request) bool {
	for i, in := range r.events {
		v := w.lookup(legacyKey(in.User, fmt.Sprintf("%s#%d", r.key, i)))
		if v == nil {
			return false
		}
		copy(r.ids[i][:], v)
	}
	return true
}

func reused(key string) error {
	return fmt.Errorf("%w: Idempotency-Key %q was first used with a different request", ErrIdempotencyKeyReused, truncate(key, 64))
}

// remember stores in's key → id with its time and digest.
func (w *writer) remember(in Input, id ID) error {
	return w.put(singleKey(in.IdempotencyKey), id, digest(idemSingle, []Input{in}), nil)
}

// rememberBatch stores r's batch key → its ids, time and digest.
func (w *writer) rememberBatch(r *request) error {
	rest := make([]byte, 0, 16*(len(r.ids)-1))
	for _, id := range r.ids[1:] {
		rest = append(rest, id[:]...)
	}
	return w.put(batchKey(r.key), r.ids[0], digest(idemBatch, r.events), rest)
}

// put stores k → id, time, digest, rest, and an expiry index entry
// (time, k) so the compactor can drop old keys with a seek.
func (w *writer) put(k []byte, id ID, sum, rest []byte) error {
	at := binary.BigEndian.AppendUint64(nil, uint64(w.ageNow.UnixNano()))
	v := make([]byte, 0, idemHead+len(sum)+len(rest))
	v = append(append(append(append(v, id[:]...), at...), sum...), rest...)
	if err := w.tx.Bucket(bucketIdem).Put(k, v); err != nil {
		return fmt.Errorf("remember idempotency key: %w", err)
	}
	exp := w.tx.Bucket(bucketIdemExp)
	exp.FillPercent = 1
	if err := exp.Put(append(at, k...), nil); err != nil {
		return fmt.Errorf("remember idempotency key: %w", err)
	}
	return nil
}

// idemLive reports whether the key stored with value v is still within
// the window, by either of two clocks: the ageing clock (its time, against
// ageNow), which a step of the wall clock within a run does not move, or
// the wall clock (its event id's time, against wallNow), which a restart
// does not move. The ageing clock restarts from the wall clock at Open:
// a key stored while it ran behind real time (started from a wall clock
// that was behind, and corrected later in the run) looked that much older
// after the restart, and a retry inside the window stored twice. A wall
// age below zero (the clock went back since) is not trusted.
func (l *Log) idemLive(v []byte, ageNow, wallNow time.Time) bool {
	at := time.Unix(0, int64(binary.BigEndian.Uint64(v[16:idemHead])))
	if ageNow.Sub(at) < l.opts.IdempotencyWindow {
		return true
	}
	var id ID
	copy(id[:], v)
	wallAge := wallNow.Sub(time.UnixMilli(int64(id.Time())))
	return wallAge >= 0 && wallAge < l.opts.IdempotencyWindow
}

// expireIdempotency forgets keys older than the window, oldest first, in
// small transactions, looking at no more than maxExpiryScan entries a
// run: keys the wall clock still holds live are passed over, and looked
// at again next run.
func (l *Log) expireIdempotency(ctx context.Context) error {
	ageNow, wallNow := l.ageNow(), l.opts.Now()
	limit := uint64(ageNow.Add(-l.opts.IdempotencyWindow).UnixNano())
	scanned := 0
	for ctx.Err() == nil {
		n := 0
		err := l.db.Update(func(tx *bolt.Tx) error {
			exp, idem := tx.Bucket(bucketIdemExp), tx.Bucket(bucketIdem)
			var keys [][]byte
			c := exp.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < compactBatch && scanned < maxExpiryScan; k, _ = c.Next() {
				if len(k) < 8 || binary.BigEndian.Uint64(k[:8]) >= limit {
					break
				}
				scanned++
				// Past the window on the ageing clock, but perhaps not on
				// the wall clock (idemLive): kept until both agree.
				if v := idem.Get(k[8:]); len(v) >= idemHead && bytes.Equal(v[16:idemHead], k[:8]) && l.idemLive(v, ageNow, wallNow) {
					continue
				}
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := exp.Delete(k); err != nil {
					return err
				}
				// A later append with the same key replaced the entry;
				// keep it if its time is not this one.
				if v := idem.Get(k[8:]); len(v) >= idemHead && bytes.Equal(v[16:idemHead], k[:8]) {
					if err := idem.Delete(k[8:]); err != nil {
						return err
					}
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil {
			return fmt.Errorf("expire idempotency keys: %w", closedErr(err))
		}
		l.bg.keysExpired.Add(uint64(n))
		if n < compactBatch {
			return nil
		}
	}
	return ctx.Err()
}
