package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
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
	// KeyExpiryInterval is how often idempotency keys past the window are
	// forgotten, on a schedule of its own (CompactInterval 0 does not stop
	// it); 0 means one minute, a negative value never in the background.
	KeyExpiryInterval time.Duration
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
	// Now is the wall clock (ids and event times); nil means time.Now.
	Now func() time.Time
	// Elapsed is the time since Open on a monotonic clock, which ages
	// events and idempotency keys (a step of the wall clock does not);
	// nil means measured by Now's differences, which for time.Now is its
	// monotonic reading.
	Elapsed func() time.Duration
	// MaxClockJump is how far the wall clock at Open may be ahead of the
	// newest event before it is distrusted for ageing; 0 means 24 h.
	MaxClockJump time.Duration
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

	mu     sync.RWMutex // guards closed against new appends
	closed bool
	// The group commit (append.go): pending appends wait for a commit;
	// leading says one is running, on the writer's goroutine or on an
	// appender's own; writerKick wakes the writer.
	wmu        sync.Mutex
	pending    []*request
	leading    bool
	lastGroup  int           // requests in the last commit
	lastCommit time.Duration // how long the last group's commit took
	want       int           // gather waits for this many pending, 0 when not waiting
	groupFull  chan struct{} // tells gather its group is whole
	writerKick chan struct{}
	// moveKick wakes the journal mover after a commit; journaled counts
	// the entries it has not filed yet (roughly: see moveLoop).
	moveKick  chan struct{}
	journaled atomic.Int64
	// inJournal counts each user's journal entries ("" = broadcasts); a
	// user's count of events held is its filed count (meta) plus this.
	// Only write transactions change it, once they have committed and
	// before the next one begins (update, journal.go), so every write
	// transaction sees it agree with the file. txMu is held through
	// every write transaction that reads or changes it.
	txMu        sync.Mutex
	inJournalMu sync.Mutex
	inJournal   map[string]uint64
	gen         *generator
	notify      *notifier
	tail        *tail

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	deleted atomic.Uint64 // events removed by retention since Open
	counts  counters      // what Counts reports, kept current
	bg      bgCounters    // the background work's figures
	last    atomic.Pointer[ID]
	// damagedSeen holds the keys of damaged records already reported.
	damagedSeen sync.Map
	// started anchors monotonic time; busySince is when the commit in
	// progress began (time since started, plus one), 0 when idle.
	started   time.Time
	busySince atomic.Int64
	// The ageing clock (see ageNow): anchor is its reading at Open, now0
	// the wall clock then.
	anchor, now0 time.Time
	// holes are the id ranges this file never issued (restarts.go), by
	// top; fixed at Open.
	holes []hole
	// Appends since Open, counted once their commit is durable: events
	// stored for users and as broadcasts, and idempotent repeats (which
	// store nothing).
	storedUser, storedBroadcast, repeats atomic.Uint64
	commits                              atomic.Uint64 // append transactions
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
	if opts.MaxClockJump <= 0 {
		opts.MaxClockJump = 24 * time.Hour
	}
	if opts.KeyExpiryInterval == 0 {
		opts.KeyExpiryInterval = time.Minute
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
	db, err := openBolt(path, opts.Logger)
	switch {
	case errors.Is(err, ErrDamaged):
		return nil, fmt.Errorf("open log %s: %w; check it with \"sselog check %s\", and restore the last backup (stop the server, put the backup file at this path)", path, err, path)
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
		db:         db,
		path:       path,
		opts:       opts,
		log:        opts.Logger,
		moveKick:   make(chan struct{}, 1),
		writerKick: make(chan struct{}, 1),
		groupFull:  make(chan struct{}, 1),
		notify:     newNotifier(opts.Now),
		started:    time.Now(),
	}
	last, seed, err := l.init()
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	if err := l.seedCounts(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	l.startClock(last)
	l.gen = newGenerator(seed)
	l.tail = newTail(opts.TailSize, opts.TailBytes, opts.PageBytes, last)
	l.last.Store(&last)
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Go(func() { l.writeLoop(ctx) })
	l.wg.Go(func() { l.moveLoop(ctx) })
	l.kickMover() // file what a previous run left in the journal
	if opts.CompactInterval > 0 {
		l.wg.Go(func() { l.compactLoop(ctx) })
	}
	if opts.KeyExpiryInterval >= 0 {
		l.wg.Go(func() { l.expiryLoop(ctx) })
	}
	return l, nil
}

// openBolt opens the bbolt file at path. An existing file is checked
// first (precheck): bbolt trusts the file, and a damaged one would end the
// process in a goroutine of bbolt's own. A panic bbolt raises in this
// goroutine is turned into an error too.
func openBolt(path string, logger *slog.Logger) (db *bolt.DB, err error) {
	switch fi, serr := os.Stat(path); {
	case serr == nil && fi.Size() == 0:
		logger.Warn("the data file is empty (0 bytes): creating a new log in it", "path", path)
	case serr == nil:
		if err := lockedPrecheck(path); err != nil {
			return nil, err
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrDamaged, p)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        time.Second,
		NoFreelistSync: true, // rebuilt on open; saves a write per commit
		FreelistType:   bolt.FreelistMapType,
	})
}

// init creates the fixed buckets, records this start's restart hole and
// returns the largest id on disk and the id generator's seed.
func (l *Log) init() (last, seed ID, err error) {
	err = l.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketUsers, bucketBroadcast, bucketMeta, bucketIdem, bucketIdemExp, bucketJournal, bucketDamaged} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		var err error
		if last, err = l.initJournalCounts(tx); err != nil {
			return err
		}
		seed, l.holes, err = startEpoch(tx, last, l.opts.Now())
		return err
	})
	return last, seed, err
}

// Close stops accepting appends, commits those already queued, stops the
// compactor, wakes every waiter and closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true // no appender holds mu.RLock now: none can queue
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	l.commitPending(false) // what was queued as the writer stopped
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

// Stalled reports how long the commit in progress has been running, 0 when
// none is. A commit that takes seconds means the store is stuck: the disk,
// or a reader holding the file against growth (bbolt cannot remap under
// an open read transaction).
func (l *Log) Stalled() time.Duration {
	v := l.busySince.Load()
	if v == 0 {
		return 0
	}
	return time.Since(l.started) - time.Duration(v-1)
}

// Path returns the file the log lives in.
func (l *Log) Path() string { return l.path }

// Last returns the newest committed id (zero for an empty log).
func (l *Log) Last() ID { return *l.last.Load() }
