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
	// the first append's id and store nothing. The key names one request:
	// reused with another user, name or data it is refused with
	// ErrIdempotencyKeyReused.
	IdempotencyKey string
}

// request is one Append or AppendBatch call waiting for a group commit.
type request struct {
	ctx    context.Context
	key    string // a keyed batch's idempotency key
	events []Input
	ids    []ID
	err    error
	done   chan struct{}
	// one and oneID hold a single Append's event and id, and self the
	// request as a group of one, so that it allocates no slices.
	one   [1]Input
	oneID [1]ID
	self  [1]*request
}

// Append stores one event and returns its id once the commit holding it is
// on disk. If ctx ends first, Append returns ctx's error; the event may
// still have been committed.
func (l *Log) Append(ctx context.Context, in Input) (ID, error) {
	if err := in.validate(); err != nil {
		return ID{}, fmt.Errorf("append event 0: %w", err)
	}
	r := &request{ctx: ctx, done: make(chan struct{})}
	r.one[0], r.self[0] = in, r
	r.events, r.ids = r.one[:], r.oneID[:]
	if err := l.submit(r); err != nil {
		return ID{}, err
	}
	return r.ids[0], nil
}

// AppendBatch stores events for any mix of users in one transaction: all
// are committed or none is. Ids are returned in input order.
func (l *Log) AppendBatch(ctx context.Context, events []Input) ([]ID, error) {
	return l.AppendKeyedBatch(ctx, "", events)
}

// AppendKeyedBatch is AppendBatch under one idempotency key for the batch
// as a whole: a retry of the same batch within the window returns the
// first ids and stores nothing; the key with another batch is
// ErrIdempotencyKeyReused. Batch keys live apart from Input keys, and the
// events of a keyed batch carry none of their own.
func (l *Log) AppendKeyedBatch(ctx context.Context, key string, events []Input) ([]ID, error) {
	if len(key) > maxIdempotencyKeyLen {
		return nil, fmt.Errorf("append: %w: idempotency key longer than %d bytes", ErrInvalidEvent, maxIdempotencyKeyLen)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("append: %w: empty batch", ErrInvalidEvent)
	}
	for i, in := range events {
		if err := in.validate(); err != nil {
			return nil, fmt.Errorf("append event %d: %w", i, err)
		}
		if key != "" && in.IdempotencyKey != "" {
			return nil, fmt.Errorf("append event %d: %w: an event of a keyed batch carries no key of its own", i, ErrInvalidEvent)
		}
	}
	r := &request{ctx: ctx, key: key, events: events, ids: make([]ID, len(events)), done: make(chan struct{})}
	r.self[0] = r
	if err := l.submit(r); err != nil {
		return nil, err
	}
	return r.ids, nil
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

// commitGroup commits live requests in one transaction. If that fails for
// a reason other than the disk, each request is retried alone so one bad
// request cannot fail its neighbours.
func (l *Log) commitGroup(group []*request) {
	l.busySince.Store(int64(time.Since(l.started)) + 1) // see Stalled
	defer l.busySince.Store(0)
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
	// Size the transaction's buffers once: records back to back, and the
	// tail's copies of the data in one block.
	events, recBytes, dataBytes := 0, 0, 0
	for _, r := range reqs {
		events += len(r.events)
		for _, in := range r.events {
			recBytes += len(in.User) + len(in.Name) + len(in.Data) + 32
			dataBytes += len(in.Data)
		}
	}
	var repeats uint64
	err := l.update(func(tx *bolt.Tx) error {
		w := writer{tx: tx, log: l, now: now, ageNow: l.ageNow(), counts: counts, buf: make([]byte, 0, recBytes)}
		if l.tail.size > 0 {
			w.added, w.data = make([]Event, 0, events), make([]byte, 0, dataBytes)
		}
		defer func() { added, repeats = w.added, w.repeats }()
		for _, r := range reqs {
			if err := w.apply(r); err != nil {
				return &applyError{err}
			}
		}
		if len(counts) == 0 {
			return nil // only idempotent repeats
		}
		// Counts and the last id are left to the mover and to Open
		// (journal.go): the commit dirties only the journal's pages.
		meta := tx.Bucket(bucketMeta)
		l.inJournalMu.Lock()
		for user := range counts {
			if user != "" && l.inJournal[user] == 0 && getUint(meta, metaKey(metaCount, user)) == 0 {
				newUsers++
			}
			touched[user] = struct{}{}
		}
		l.inJournalMu.Unlock()
		return nil
	}, func() { l.journalAdd(counts, false) })
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
		l.commits.Add(1)
		l.counts.added(counts, newUsers)
		var n int64
		for _, c := range counts {
			n += int64(c)
		}
		l.journaled.Add(n)
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
	ageNow  time.Time // the ageing clock, for idempotency keys (clock.go)
	counts  map[string]uint64
	journal *bolt.Bucket
	added   []Event // what the tail cache gets once the commit is durable
	data    []byte  // added's data, back to back
	repeats uint64  // idempotent repeats answered with a stored id
	buf     []byte  // records of this transaction, back to back
}

func (w *writer) apply(r *request) error {
	if r.key != "" {
		done, err := w.seenBatch(r)
		if done {
			w.repeats += uint64(len(r.events))
		}
		if done || err != nil {
			return err
		}
	}
	for i, in := range r.events {
		if in.IdempotencyKey != "" {
			id, ok, err := w.seen(in)
			if err != nil {
				return err
			}
			if ok {
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
		w.buf = encodeRecord(appendJournalHeader(w.buf, in.User), id, w.now.UnixNano(), in.Name, in.Data)
		if err := w.journal.Put(id[:], w.buf[start:len(w.buf):len(w.buf)]); err != nil {
			return fmt.Errorf("append %q: %w", in.User, err)
		}
		w.counts[in.User]++
		r.ids[i] = id
		if w.log.tail.size > 0 {
			// The tail keeps its own copy of the data (the caller owns
			// in.Data): a slice of one block per commit, never written
			// again (a block that grows moves, leaving earlier slices be).
			start := len(w.data)
			w.data = append(w.data, in.Data...)
			w.added = append(w.added, Event{ID: id, User: in.User, Name: in.Name, Data: w.data[start:len(w.data):len(w.data)], Time: time.Unix(0, w.now.UnixNano())})
		}
		if in.IdempotencyKey != "" {
			if err := w.remember(in, id); err != nil {
				return err
			}
		}
	}
	if r.key != "" {
		return w.rememberBatch(r)
	}
	return nil
}

// filingBucket returns the bucket user's events are filed in, creating a
// user's on first use.
func filingBucket(tx *bolt.Tx, user string) (*bolt.Bucket, error) {
	var b *bolt.Bucket
	if user == "" {
		b = tx.Bucket(bucketBroadcast)
	} else {
		users := tx.Bucket(bucketUsers)
		users.FillPercent = 1
		var err error
		if b, err = users.CreateBucketIfNotExists([]byte(user)); err != nil {
			return nil, fmt.Errorf("create bucket for %q: %w", user, err)
		}
	}
	b.FillPercent = 1 // keys only grow: pack pages full
	return b, nil
}

// bytesLess reports a < b for ids stored as keys.
func bytesLess(a, b []byte) bool { return bytes.Compare(a, b) < 0 }
