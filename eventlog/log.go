package eventlog

import (
	"context"
	"encoding/binary"
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

	keyLast = []byte("last")
)

// Limits on what one event may hold.
const (
	MaxNameLen = 128
	MaxUserLen = 128
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
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives compaction errors; nil means slog.Default().
	Logger *slog.Logger
}

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
	last    atomic.Pointer[ID]
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
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 8192
	}
	if opts.TailSize == 0 {
		opts.TailSize = 16384
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
		notify:   newNotifier(),
	}
	last, err := l.init()
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	l.gen = newGenerator(last)
	l.tail = newTail(opts.TailSize, last)
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

// Changed returns a channel closed by the next commit that adds an event
// for user, or a broadcast when user is "". Take it before reading, then
// wait on it when the read found nothing new: no commit is missed. It is
// also closed when the log closes.
func (l *Log) Changed(user string) <-chan struct{} { return l.notify.wait(user) }

// metaKey is the meta bucket key of a per-bucket figure: kind 'c' for the
// event count, 'g' for the gap mark (the newest id retention deleted).
func metaKey(kind byte, user string) []byte {
	k := make([]byte, 0, 2+len(user))
	return append(append(k, kind, 0), user...)
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

// notifier hands out one channel per watched user and closes it on the
// next commit for that user. Waiters of one user share a channel, so a
// commit costs one close per touched user however many readers wait.
type notifier struct {
	mu     sync.Mutex
	chans  map[string]chan struct{}
	closed bool
}

func newNotifier() *notifier { return &notifier{chans: make(map[string]chan struct{})} }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (n *notifier) wait(user string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return closedChan
	}
	c, ok := n.chans[user]
	if !ok {
		c = make(chan struct{})
		n.chans[user] = c
	}
	return c
}

func (n *notifier) wake(users map[string]struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for u := range users {
		if c, ok := n.chans[u]; ok {
			close(c)
			delete(n.chans, u)
		}
	}
}

func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for u, c := range n.chans {
		close(c)
		delete(n.chans, u)
	}
}
