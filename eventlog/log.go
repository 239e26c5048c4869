package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options tune a Log. The zero value is usable: no retention, a 24 h
// idempotency window, the wall clock.
type Options struct {
	// MaxAge deletes user events older than this; 0 keeps them by age.
	MaxAge time.Duration
	// MaxEvents caps each user bucket; 0 means no cap.
	MaxEvents int
	// BroadcastMaxAge and BroadcastMaxEvents do the same for broadcasts.
	BroadcastMaxAge    time.Duration
	BroadcastMaxEvents int
	// CompactInterval is how often retention runs; 0 means never in the
	// background (Compact can still be called).
	CompactInterval time.Duration
	// IdempotencyWindow is how long an idempotency key is remembered;
	// 0 means 24 h.
	IdempotencyWindow time.Duration
	// MaxGroup bounds how many events one group commit holds; 0 means 8192.
	MaxGroup int
	// TailSize is how many of the newest events (at least) are kept in memory to
	// answer live readers without touching the file; 0 means 16384, a
	// negative value turns the cache off.
	TailSize int
	// TailBytes bounds the memory the tail holds (event data, names and
	// a fixed overhead each): past it the oldest are evicted down to half
	// of it, whatever TailSize says. 0 means DefaultTailBytes; negative,
	// no byte bound.
	TailBytes int
	// PageBytes bounds the event data one ReadAfter returns (at least one
	// event is), so a reader of large events holds a bounded page. 0
	// means DefaultPageBytes; negative, no byte bound.
	PageBytes int
	// MoveDelay is how long appends gather in the journal before the
	// mover files them into their users' buckets; 0 means 200 ms. Longer
	// writes each user's page once for more events (200 ms: 36k -> 105k
	// events/s at 1,000 users in BenchmarkAppend), at the cost of a
	// longer journal for reads that miss the tail to merge.
	MoveDelay time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives compaction errors; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultTailBytes bounds the in-memory tail: 64 MiB fits a small VM and
// holds thousands of typical events.
const DefaultTailBytes = 64 << 20

// Log is the durable event log. Its methods are safe for concurrent use.
type Log struct {
	db   *bolt.DB
	path string
	opts Options
	log  *slog.Logger

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan *request
	// moveKick wakes the journal mover after a commit.
	moveKick chan struct{}
	gen      *generator
	notify   *notifier
	tail     *tail

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	deleted atomic.Uint64 // events removed by retention since Open
	counts  counters
	last    atomic.Pointer[ID]
	// Appends since Open, counted once their commit is durable: events
	// stored for users and as broadcasts, and idempotent repeats (which
	// store nothing).
	storedUser, storedBroadcast, repeats atomic.Uint64
}

// Open opens or creates the log at path, creating its directory, and starts
// the group-commit writer and the retention compactor.
func Open(path string, opts Options) (*Log, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.IdempotencyWindow <= 0 {
		opts.IdempotencyWindow = 24 * time.Hour
	}
	if opts.MoveDelay <= 0 {
		opts.MoveDelay = defaultMoveDelay
	}
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 8192
	}
	if opts.TailSize == 0 {
		opts.TailSize = 16384
	}
	if opts.TailBytes == 0 {
		opts.TailBytes = DefaultTailBytes
	}
	if opts.PageBytes == 0 {
		opts.PageBytes = DefaultPageBytes
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open log %s: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        time.Second,
		NoFreelistSync: true, // rebuilt on open; saves a write per commit
		FreelistType:   bolt.FreelistMapType,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open log %s: the file is locked by another process (is another sselog running?): %w", path, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("open log %s: not a bbolt data file: %w", path, err)
	case err != nil && strings.HasPrefix(err.Error(), "file size too small"):
		// bbolt has no sentinel for a non-empty file under two pages.
		return nil, fmt.Errorf("open log %s: not a bbolt data file: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	l := &Log{
		db:       db,
		path:     path,
		opts:     opts,
		log:      opts.Logger,
		queue:    make(chan *request, 1024),
		moveKick: make(chan struct{}, 1),
		notify:   newNotifier(opts.Now),
	}
	last, err := l.init()
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	if err := l.seedCounts(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	l.gen = newGenerator(last)
	l.tail = newTail(opts.TailSize, opts.TailBytes, opts.PageBytes, last)
	l.last.Store(&last)
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Go(l.writeLoop)
	l.wg.Go(func() { l.moveLoop(ctx) })
	l.kickMover() // file what a previous run left in the journal
	if opts.CompactInterval > 0 {
		l.wg.Go(func() { l.compactLoop(ctx) })
	}
	return l, nil
}

// init creates the fixed buckets and returns the largest id on disk.
func (l *Log) init() (ID, error) {
	var last ID
	err := l.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketUsers, bucketBroadcast, bucketMeta, bucketIdem, bucketIdemExp, bucketJournal} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if v := tx.Bucket(bucketMeta).Get(keyLast); len(v) == len(last) {
			copy(last[:], v)
		}
		return nil
	})
	return last, err
}

// Close stops accepting appends, commits those already queued, stops the
// compactor, wakes every waiter and closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	close(l.queue) // no sender holds mu.RLock now, so none can send
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	l.notify.close()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("close log %s: %w", l.path, err)
	}
	return nil
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// closedErr turns bbolt's answer to a call that lost the race with Close
// into ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Path returns the file the log lives in.
func (l *Log) Path() string { return l.path }

// Last returns the newest committed id (zero for an empty log).
func (l *Log) Last() ID { return *l.last.Load() }
