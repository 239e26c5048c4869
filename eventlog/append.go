package eventlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Input is one event to append.
type Input struct {
	// User owns the event; "" makes it a broadcast to every user.
	User string
	// Name is the SSE event name; "" means the default "message".
	Name string
	// Data is the event's JSON value, stored as given.
	Data []byte
	// IdempotencyKey, when set, makes a retry within the window return
	// the first append's id and store nothing. It is scoped to User.
	IdempotencyKey string
}

// request is one Append or AppendBatch call waiting for a group commit.
type request struct {
	ctx    context.Context
	events []Input
	ids    []ID
	err    error
	done   chan struct{}
}

// Append stores one event and returns its id once the commit holding it is
// on disk. If ctx ends first, Append returns ctx's error; the event may
// still have been committed.
func (l *Log) Append(ctx context.Context, in Input) (ID, error) {
	ids, err := l.AppendBatch(ctx, []Input{in})
	if err != nil {
		return ID{}, err
	}
	return ids[0], nil
}

// AppendBatch stores events for any mix of users in one transaction: all
// are committed or none is. Ids are returned in input order.
func (l *Log) AppendBatch(ctx context.Context, events []Input) ([]ID, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("append: %w: empty batch", ErrInvalidEvent)
	}
	for i, in := range events {
		if err := in.validate(); err != nil {
			return nil, fmt.Errorf("append event %d: %w", i, err)
		}
	}
	r := &request{ctx: ctx, events: events, ids: make([]ID, len(events)), done: make(chan struct{})}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case l.queue <- r:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return nil, ctx.Err()
	}
	select {
	case <-r.done:
		return r.ids, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (in Input) validate() error {
	switch {
	case len(in.User) > MaxUserLen:
		return fmt.Errorf("%w: user longer than %d bytes", ErrInvalidEvent, MaxUserLen)
	case len(in.Name) > MaxNameLen:
		return fmt.Errorf("%w: name longer than %d bytes", ErrInvalidEvent, MaxNameLen)
	case hasControl(in.User):
		return fmt.Errorf("%w: control character in user", ErrInvalidEvent)
	case hasControl(in.Name):
		return fmt.Errorf("%w: control character in name", ErrInvalidEvent)
	case len(in.IdempotencyKey) > maxIdempotencyKeyLen:
		return fmt.Errorf("%w: idempotency key longer than %d bytes", ErrInvalidEvent, maxIdempotencyKeyLen)
	case !json.Valid(in.Data):
		return fmt.Errorf("%w: data is not one JSON value", ErrInvalidEvent)
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// writeLoop is the only writer of events: it takes every request queued
// while the previous commit was syncing and commits them together.
func (l *Log) writeLoop() {
	var group []*request
	for r := range l.queue {
		group = append(group[:0], r)
		n := len(r.events)
	fill:
		for n < l.opts.MaxGroup {
			select {
			case r, ok := <-l.queue:
				if !ok {
					break fill
				}
				group = append(group, r)
				n += len(r.events)
			default:
				break fill
			}
		}
		l.commitGroup(group)
	}
}

// commitGroup commits live requests in one transaction. If that fails for
// a reason other than the disk, each request is retried alone so one bad
// request cannot fail its neighbours.
func (l *Log) commitGroup(group []*request) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.finish(err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	err := l.commit(live)
	var perr *applyError
	if errors.As(err, &perr) && len(live) > 1 {
		for _, r := range live {
			r.finish(l.commit([]*request{r}))
		}
		return
	}
	for _, r := range live {
		r.finish(err)
	}
}

func (r *request) finish(err error) {
	if err != nil {
		r.err = err
	}
	close(r.done)
}

// applyError marks a failure of one request inside a shared transaction.
type applyError struct{ err error }

func (e *applyError) Error() string { return e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

// commit runs one write transaction for reqs and, once it is durable,
// publishes the new last id and wakes the readers of every touched user.
func (l *Log) commit(reqs []*request) error {
	now := l.opts.Now()
	touched := make(map[string]struct{})
	counts := make(map[string]uint64)
	var newUsers int64
	var added []Event
	var repeats uint64
	err := l.db.Update(func(tx *bolt.Tx) error {
		w := writer{tx: tx, log: l, now: now, buckets: make(map[string]*bolt.Bucket), counts: counts}
		defer func() { added, repeats = w.added, w.repeats }()
		for _, r := range reqs {
			if err := w.apply(r); err != nil {
				return &applyError{err}
			}
		}
		if len(counts) == 0 {
			return nil // only idempotent repeats
		}
		meta := tx.Bucket(bucketMeta)
		for user, n := range counts {
			k := metaKey(metaCount, user)
			old := getUint(meta, k)
			if user != "" && old == 0 {
				newUsers++
			}
			if err := putUint(meta, k, old+n); err != nil {
				return fmt.Errorf("update count: %w", err)
			}
			touched[user] = struct{}{}
		}
		last := l.gen.last
		return meta.Put(keyLast, last[:])
	})
	if err != nil {
		return fmt.Errorf("commit %d requests: %w", len(reqs), err)
	}
	l.repeats.Add(repeats)
	for user, n := range counts {
		if user == "" {
			l.storedBroadcast.Add(n)
		} else {
			l.storedUser.Add(n)
		}
	}
	if len(touched) > 0 {
		l.counts.added(counts, newUsers)
		l.tail.add(added)
		last := l.gen.last
		l.last.Store(&last)
		l.notify.wake(touched)
		l.kickMover()
	}
	return nil
}

// writer applies requests to one write transaction.
type writer struct {
	tx      *bolt.Tx
	log     *Log
	now     time.Time
	buckets map[string]*bolt.Bucket
	counts  map[string]uint64
	journal *bolt.Bucket
	added   []Event // what the tail cache gets once the commit is durable
	repeats uint64  // idempotent repeats answered with a stored id
	buf     []byte  // records of this transaction, back to back
}

func (w *writer) apply(r *request) error {
	for i, in := range r.events {
		if in.IdempotencyKey != "" {
			if id, ok := w.seen(in); ok {
				r.ids[i] = id
				w.repeats++
				continue
			}
		}
		if w.journal == nil {
			w.journal = w.tx.Bucket(bucketJournal)
			w.journal.FillPercent = 1 // keys only grow: pack pages full
		}
		id := w.log.gen.next(w.now)
		// bbolt keeps the value slice until the transaction ends: never
		// overwrite a record already Put; only append after it.
		start := len(w.buf)
		w.buf = encodeRecord(appendJournalHeader(w.buf, in.User), w.now.UnixNano(), in.Name, in.Data)
		if err := w.journal.Put(id[:], w.buf[start:len(w.buf):len(w.buf)]); err != nil {
			return fmt.Errorf("append %q: %w", in.User, err)
		}
		w.counts[in.User]++
		r.ids[i] = id
		if w.log.tail.size > 0 {
			w.added = append(w.added, Event{ID: id, User: in.User, Name: in.Name, Data: bytes.Clone(in.Data), Time: time.Unix(0, w.now.UnixNano())})
		}
		if in.IdempotencyKey != "" {
			if err := w.remember(in, id); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *writer) bucket(user string) (*bolt.Bucket, error) {
	if b, ok := w.buckets[user]; ok {
		return b, nil
	}
	var b *bolt.Bucket
	if user == "" {
		b = w.tx.Bucket(bucketBroadcast)
	} else {
		users := w.tx.Bucket(bucketUsers)
		users.FillPercent = 1
		var err error
		if b, err = users.CreateBucketIfNotExists([]byte(user)); err != nil {
			return nil, fmt.Errorf("create bucket for %q: %w", user, err)
		}
	}
	b.FillPercent = 1 // keys only grow: pack pages full
	w.buckets[user] = b
	return b, nil
}

// bytesLess reports a < b for ids stored as keys.
func bytesLess(a, b []byte) bool { return bytes.Compare(a, b) < 0 }
