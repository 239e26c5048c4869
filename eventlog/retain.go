package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// compactBatch bounds the keys one retention transaction deletes, so the
// writer is never held up for long.
const compactBatch = 1000

// Compact runs one retention pass now: it files the journal, deletes
// events beyond the age and count limits, records gap marks, removes empty
// user buckets and forgets expired idempotency keys. Each step runs even
// when one before it failed; the errors are joined. It returns how many
// events it deleted.
func (l *Log) Compact(ctx context.Context) (int, error) {
	n, err := l.retain(ctx)
	return n, errors.Join(err, l.expireIdempotency(ctx))
}

// retain files the journal, then applies the retention limits. A journal
// that cannot be filed (the mover's failure, counted as such) does not
// stop retention: the limits apply to what is filed.
func (l *Log) retain(ctx context.Context) (int, error) {
	var moveErr error
	if err := l.drainJournal(ctx); err != nil && ctx.Err() == nil {
		l.bg.moveErrors.Add(1)
		moveErr = err
	}
	targets, err := l.overLimit()
	if err != nil {
		return 0, errors.Join(moveErr, err)
	}
	total := 0
	for _, t := range targets {
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			n, more, err := l.trim(t)
			total += n
			if err != nil {
				return total, errors.Join(moveErr, err)
			}
			if !more {
				break
			}
		}
	}
	return total, moveErr
}

// limits returns the age cut-off id and the count cap for a bucket.
func (l *Log) limits(user string) (cutoff ID, maxEvents uint64) {
	age, count := l.opts.MaxAge, l.opts.MaxEvents
	if user == "" {
		age, count = l.opts.BroadcastMaxAge, l.opts.BroadcastMaxEvents
	}
	if age > 0 {
		_ = cutoff.SetTime(uint64(max(l.ageNow().Add(-age).UnixMilli(), 0)))
	}
	return cutoff, uint64(max(count, 0))
}

// overLimit lists the buckets holding events past a limit, in one short
// read transaction.
func (l *Log) overLimit() ([]string, error) {
	var out []string
	err := l.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		check := func(user string, b *bolt.Bucket) {
			cutoff, maxN := l.limits(user)
			k, _ := b.Cursor().First()
			if k == nil {
				if user != "" {
					out = append(out, user) // empty: remove the bucket
				}
				return
			}
			if (maxN > 0 && l.held(meta, user) > maxN) || bytes.Compare(k, cutoff[:]) < 0 {
				out = append(out, user)
			}
		}
		check("", tx.Bucket(bucketBroadcast))
		users := tx.Bucket(bucketUsers)
		return users.ForEachBucket(func(name []byte) error {
			check(string(name), users.Bucket(name))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("retention scan: %w", closedErr(err))
	}
	return out, nil
}

// trim deletes up to compactBatch of user's oldest events that are past a
// limit, in one transaction, and moves the user's gap mark up to the newest
// id deleted. more reports that the bucket still holds events past a limit.
func (l *Log) trim(user string) (deleted int, more bool, err error) {
	var mark ID
	var before, after uint64
	err = l.update(func(tx *bolt.Tx) error {
		b := eventBucket(tx, user)
		if b == nil {
			return nil
		}
		meta := tx.Bucket(bucketMeta)
		countKey := metaKey(metaCount, user)
		filed := getUint(meta, countKey)
		count := l.held(meta, user) // journal entries count against the limit too
		before = count
		cutoff, maxN := l.limits(user)
		var keys [][]byte
		c := b.Cursor()
		k, _ := c.First()
		for ; k != nil && len(keys) < compactBatch; k, _ = c.Next() {
			over := maxN > 0 && count-uint64(len(keys)) > maxN
			if !over && bytes.Compare(k, cutoff[:]) >= 0 {
				break
			}
			keys = append(keys, bytes.Clone(k))
		}
		more = k != nil && len(keys) == compactBatch
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("delete %x: %w", k, err)
			}
		}
		count -= min(count, uint64(len(keys)))
		filed -= min(filed, uint64(len(keys)))
		if len(keys) > 0 {
			if err := meta.Put(metaKey(metaGap, user), keys[len(keys)-1]); err != nil {
				return fmt.Errorf("gap mark: %w", err)
			}
			if err := putUint(meta, countKey, filed); err != nil {
				return fmt.Errorf("count: %w", err)
			}
		}
		// An emptied bucket goes; the mover makes it again for the user's
		// journal entries, if any.
		if user != "" && filed == 0 && firstKey(b) == nil {
			if err := meta.Delete(countKey); err != nil {
				return fmt.Errorf("count: %w", err)
			}
			if err := tx.Bucket(bucketUsers).DeleteBucket([]byte(user)); err != nil {
				return fmt.Errorf("remove empty bucket: %w", err)
			}
		}
		deleted, after = len(keys), count
		if len(keys) > 0 {
			copy(mark[:], keys[len(keys)-1])
		}
		// Raise the tail before the deletion commits, never after: a
		// reader that saw the file shrink must not then be handed the
		// deleted events from memory with no gap. Raised early, reads
		// below the floor go to the file, which still holds them until
		// the commit (and keeps them if it fails).
		l.tail.raise(mark)
		return nil
	}, nil)
	if err != nil {
		return 0, false, fmt.Errorf("retention %q: %w", user, closedErr(err))
	}
	l.deleted.Add(uint64(deleted))
	if deleted > 0 {
		l.counts.removed(user, before, after)
	}
	return deleted, more, nil
}

func firstKey(b *bolt.Bucket) []byte {
	k, _ := b.Cursor().First()
	return k
}
