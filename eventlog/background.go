package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The log's background work — the journal mover, retention and key
// expiry — runs as three loops, each on its own schedule: one failing
// (logged and counted, see Stats) never stops another, and each tries
// again at its next turn.

// damagedRecord logs and counts a stored record that failed to decode or
// its checksum, once per record however often readers meet it.
func (l *Log) damagedRecord(k []byte, err error) {
	if _, seen := l.damagedSeen.LoadOrStore(string(k), struct{}{}); seen {
		return
	}
	l.bg.damaged.Add(1)
	l.log.Error("damaged record skipped (never served); run sselog check on a copy of the data file",
		"path", l.path, "key", fmt.Sprintf("%x", k), "err", err)
}

// bgCounters are the background work's figures since Open.
type bgCounters struct {
	keysExpired     atomic.Uint64
	moveErrors      atomic.Uint64
	retentionErrors atomic.Uint64
	keyExpiryErrors atomic.Uint64
	damaged         atomic.Uint64
}

// moveRetry is how long the mover waits before trying again after a
// failure, when no new append wakes it sooner.
const moveRetry = time.Second

// moveFailed logs and counts a failed move and schedules another try.
func (l *Log) moveFailed(err error) {
	l.bg.moveErrors.Add(1)
	l.log.Error("move journal", "path", l.path, "err", err, "retry_in", moveRetry)
	// A kick after Close is a send to a buffered channel nobody reads:
	// harmless.
	time.AfterFunc(moveRetry, l.kickMover)
}

// compactLoop applies retention every CompactInterval.
func (l *Log) compactLoop(ctx context.Context) {
	t := time.NewTicker(l.opts.CompactInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := l.retain(ctx); err != nil && ctx.Err() == nil {
				l.bg.retentionErrors.Add(1)
				l.log.Error("retention", "path", l.path, "err", err)
			}
		}
	}
}

// expiryLoop forgets idempotency keys past their window every
// KeyExpiryInterval, whether or not retention runs.
func (l *Log) expiryLoop(ctx context.Context) {
	t := time.NewTicker(l.opts.KeyExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.expireIdempotency(ctx); err != nil && ctx.Err() == nil {
				l.bg.keyExpiryErrors.Add(1)
				l.log.Error("expire idempotency keys", "path", l.path, "err", err)
			}
		}
	}
}

// setAside keeps a damaged value in bucketDamaged under its key.
func setAside(tx *bolt.Tx, k, v []byte) error {
	b, err := tx.CreateBucketIfNotExists(bucketDamaged)
	if err != nil {
		return fmt.Errorf("set aside %x: %w", k, err)
	}
	if err := b.Put(bytes.Clone(k), bytes.Clone(v)); err != nil {
		return fmt.Errorf("set aside %x: %w", k, err)
	}
	return nil
}
