package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxIdempotencyKeyLen keeps idempotency keys well inside bbolt's key size
// limit, so a long key is refused as invalid rather than failing the commit.
const maxIdempotencyKeyLen = 1024

// idemKey scopes an idempotency key to its target user.
func idemKey(in Input) []byte {
	return append(append([]byte(in.User), 0), in.IdempotencyKey...)
}

// seen reports the id stored under in's idempotency key, if it was stored
// within the window.
func (w *writer) seen(in Input) (ID, bool) {
	v := w.tx.Bucket(bucketIdem).Get(idemKey(in))
	if len(v) != 16+8 {
		return ID{}, false
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(v[16:])))
	if w.now.Sub(at) >= w.log.opts.IdempotencyWindow {
		return ID{}, false
	}
	var id ID
	copy(id[:], v[:16])
	return id, true
}

// remember stores key → id with its time, and an expiry index entry
// (time, key) so the compactor can drop old keys with a seek.
func (w *writer) remember(in Input, id ID) error {
	k := idemKey(in)
	at := binary.BigEndian.AppendUint64(nil, uint64(w.now.UnixNano()))
	v := append(append(make([]byte, 0, 24), id[:]...), at...)
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

// expireIdempotency forgets keys older than the window, oldest first, in
// small transactions.
func (l *Log) expireIdempotency(ctx context.Context) error {
	limit := uint64(l.opts.Now().Add(-l.opts.IdempotencyWindow).UnixNano())
	for ctx.Err() == nil {
		n := 0
		err := l.db.Update(func(tx *bolt.Tx) error {
			exp, idem := tx.Bucket(bucketIdemExp), tx.Bucket(bucketIdem)
			var keys [][]byte
			c := exp.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < compactBatch; k, _ = c.Next() {
				if len(k) < 8 || binary.BigEndian.Uint64(k[:8]) >= limit {
					break
				}
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := exp.Delete(k); err != nil {
					return err
				}
				// A later append with the same key replaced the entry;
				// keep it if its time is not this one.
				if v := idem.Get(k[8:]); len(v) == 24 && bytes.Equal(v[16:], k[:8]) {
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
		if n < compactBatch {
			return nil
		}
	}
	return ctx.Err()
}
