package jetlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sselog/sselog/eventlog"
)

// Options tune a Log. Stream is required; the rest have defaults.
type Options struct {
	// Stream is the JetStream stream's name; its subjects are Stream.>.
	Stream string
	// Replicas is the stream's replica count; 0 means 1.
	Replicas int
	// MaxAge deletes events older than this; 0 keeps them by age.
	MaxAge time.Duration
	// MaxEvents caps each user's subject and the broadcast subject; 0
	// means no cap.
	MaxEvents int
	// IdempotencyWindow is the stream's duplicate window; 0 means 24 h
	// (capped at MaxAge, which JetStream requires).
	IdempotencyWindow time.Duration
	// TailSize is how many of the newest events this node keeps in memory
	// to answer live readers; 0 means 16384.
	TailSize int
	// Timeout bounds one JetStream request (a publish included) when the
	// caller's context has no deadline; 0 means 10 s.
	Timeout time.Duration
	// FollowerCheck is how often the node's follower is checked against
	// the stream; one that stays behind without moving for three checks
	// is started over. 0 means 2 s.
	FollowerCheck time.Duration
	// PageBytes bounds the event data one read returns (at least one
	// event), as eventlog's Options.PageBytes; 0 means
	// eventlog.DefaultPageBytes.
	PageBytes int
	// Now is the clock for event times; nil means time.Now.
	Now func() time.Time
	// Logger receives the stream's state at open and follower errors;
	// nil means slog.Default().
	Logger *slog.Logger
}

// Log is the event log kept in a JetStream stream. Its methods are safe
// for concurrent use.
type Log struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	st   jetstream.Stream
	subj subjects
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	closed  bool
	tail    *tail
	notify  *notifier
	cc      jetstream.ConsumeContext
	replies *replies
	done    chan struct{}
	wg      sync.WaitGroup // the follower's watchdog
	// acked is the largest sequence this node has acknowledged or been
	// shown by a reader; reads wait (bounded) for the follower to reach
	// it, so a node reads its own writes.
	acked atomic.Uint64
	// inflight are the publishes waiting for the stream (Stalled).
	inflight inflight
	// counts are the stream's figures as of the last check (Counts).
	counts counts
	// retain are the stream's retention limits as of the last check.
	retain retain
	// verified are resume points found issued by this stream (Unknown).
	verified verified
	// health is the last Healthy answer and when it was found.
	health struct {
		mu  sync.Mutex
		at  time.Time
		err error
	}
}

// Open creates or updates the stream and starts following it. nc stays
// the caller's: Close does not close it.
func Open(ctx context.Context, nc *nats.Conn, opts Options) (*Log, error) {
	if opts.Stream == "" {
		return nil, errors.New("jetlog: a stream name is required")
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.IdempotencyWindow <= 0 {
		opts.IdempotencyWindow = 24 * time.Hour
	}
	if opts.MaxAge > 0 && opts.IdempotencyWindow > opts.MaxAge {
		opts.IdempotencyWindow = opts.MaxAge
	}
	if opts.TailSize <= 0 {
		opts.TailSize = 16384
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.FollowerCheck <= 0 {
		opts.FollowerCheck = 2 * time.Second
	}
	if opts.PageBytes <= 0 {
		opts.PageBytes = eventlog.DefaultPageBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetlog: %w", err)
	}
	l := &Log{nc: nc, js: js, subj: subjects{opts.Stream}, opts: opts, log: opts.Logger,
		notify: newNotifier(), done: make(chan struct{})}
	action, err := l.ensureStream(ctx)
	if err != nil {
		return nil, err
	}
	if l.replies, err = newReplies(nc); err != nil {
		return nil, fmt.Errorf("jetlog: %w", err)
	}
	info, err := l.st.Info(ctx)
	if err != nil {
		l.replies.close()
		return nil, fmt.Errorf("jetlog: stream %s info: %w", opts.Stream, err)
	}
	last := eventlog.ZeroID
	if info.State.LastSeq > 0 {
		if e, err := l.getSeq(ctx, info.State.LastSeq); err == nil {
			last = e.ID
		} else {
			last = makeID(info.State.LastSeq, info.State.LastTime)
		}
	}
	l.tail = newTail(opts.TailSize, last)
	l.refreshCounts(ctx)
	if err := l.follow(ctx, info.State.LastSeq+1); err != nil {
		l.replies.close()
		return nil, err
	}
	l.wg.Go(l.watch)
	l.log.Info("jetstream log open", "stream", opts.Stream, "action", action, "replicas", info.Config.Replicas,
		"events", info.State.Msgs, "first_seq", info.State.FirstSeq, "last_seq", info.State.LastSeq,
		"subjects", info.State.NumSubjects, "max_age", info.Config.MaxAge,
		"max_per_subject", info.Config.MaxMsgsPerSubject, "duplicate_window", info.Config.Duplicates)
	return l, nil
}

// streamConfig is the stream this log needs.
func (l *Log) streamConfig() jetstream.StreamConfig {
	maxPer := int64(-1)
	if l.opts.MaxEvents > 0 {
		maxPer = int64(l.opts.MaxEvents)
	}
	return jetstream.StreamConfig{
		Name:               l.opts.Stream,
		Description:        "sselog event log",
		Subjects:           []string{l.subj.all()},
		Storage:            jetstream.FileStorage,
		Replicas:           l.opts.Replicas,
		MaxAge:             l.opts.MaxAge,
		MaxMsgsPerSubject:  maxPer,
		Duplicates:         l.opts.IdempotencyWindow,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		Discard:            jetstream.DiscardOld,
	}
}

// ensureStream creates the stream, or updates an existing one to this
// node's configuration (every node should run with the same limits: the
// last one to start sets them). It says which it did.
func (l *Log) ensureStream(ctx context.Context) (string, error) {
	cfg := l.streamConfig()
	action := "updated"
	if _, err := l.js.Stream(ctx, cfg.Name); errors.Is(err, jetstream.ErrStreamNotFound) {
		action = "created"
	}
	st, err := l.js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("jetlog: create or update stream %s: %w", cfg.Name, err)
	}
	l.st = st
	l.retain.set(st.CachedInfo().Config)
	return action, nil
}

// follow starts this node's one consumer: every event from seq on, in
// stream order, into the tail, waking local readers.
func (l *Log) follow(ctx context.Context, seq uint64) error {
	c, err := l.js.OrderedConsumer(ctx, l.opts.Stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   seq,
	})
	if err != nil {
		return fmt.Errorf("jetlog: follow stream %s: %w", l.opts.Stream, err)
	}
	cc, err := c.Consume(l.onMsg,
		// Short pulls with frequent heartbeats: a follower whose server
		// died notices within seconds and starts over on another, so
		// local subscribers are not left waiting.
		jetstream.PullExpiry(4*time.Second),
		jetstream.PullHeartbeat(time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			l.log.Debug("jetstream follower", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("jetlog: follow stream %s: %w", l.opts.Stream, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		cc.Stop()
		return eventlog.ErrClosed
	}
	l.cc = cc
	return nil
}

func (l *Log) onMsg(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	e, ok := l.decode(m.Subject(), md.Sequence.Stream, m.Headers(), m.Data(), md.Timestamp)
	if !ok {
		l.tail.pass(md.Sequence.Stream)
		return
	}
	if l.tail.add(e) {
		l.notify.wake(e.User)
	}
}

// watch starts the follower over when it stays behind the stream without
// moving: the client library recreates its consumer by itself after a
// server is lost, with backoff, but a consumer that could not be
// recreated in time must not leave this node's subscribers waiting.
func (l *Log) watch() {
	every := l.opts.FollowerCheck
	stuckAfter := 3 * every
	t := time.NewTicker(every)
	defer t.Stop()
	var prev uint64
	var stuckSince time.Time
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
		}
		ctx, cancel := l.bounded(every)
		// An empty stream (retention took everything) keeps its last
		// sequence but has no message there to wait for.
		if info, err := l.refreshCounts(ctx); err == nil && info.State.Msgs > 0 {
			l.sawSeq(info.State.LastSeq)
		}
		cancel()
		seen := l.tail.seenSeq()
		switch {
		case l.acked.Load() <= seen || seen != prev:
			stuckSince = time.Time{}
		case stuckSince.IsZero():
			stuckSince = time.Now()
		case time.Since(stuckSince) >= stuckAfter:
			l.restartFollower(seen + 1)
			stuckSince = time.Time{}
		}
		prev = seen
	}
}

// restartFollower replaces the follower with a new one from seq on.
func (l *Log) restartFollower(seq uint64) {
	l.mu.Lock()
	old := l.cc
	l.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	ctx, cancel := l.bounded(l.opts.Timeout)
	defer cancel()
	if err := l.follow(ctx, seq); err != nil && !errors.Is(err, eventlog.ErrClosed) {
		l.log.Warn("jetstream follower restart failed; will retry", "stream", l.opts.Stream, "from", seq, "err", err)
		return
	}
	l.log.Info("jetstream follower restarted", "stream", l.opts.Stream, "from", seq)
}

// bounded is a context that ends after d or when the log closes.
func (l *Log) bounded(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// sawSeq records that the stream holds seq.
func (l *Log) sawSeq(seq uint64) {
	for {
		cur := l.acked.Load()
		if seq <= cur || l.acked.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Close stops following the stream and wakes every waiter. The NATS
// connection stays open.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return eventlog.ErrClosed
	}
	l.closed = true
	cc := l.cc
	l.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
	close(l.done)
	l.wg.Wait()
	l.replies.close()
	l.notify.close()
	return nil
}

func (l *Log) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Last returns the newest id this node has seen committed.
func (l *Log) Last() eventlog.ID { return l.tail.lastID() }

// Changed returns a channel closed by the next event this node sees for
// user ("" = broadcast). Take it before reading: no event is missed.
func (l *Log) Changed(user string) <-chan struct{} { return l.notify.wait(user) }

// ctx gives a request the default timeout when the caller set none.
func (l *Log) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, l.opts.Timeout)
}

// Healthy reports whether the stream can take writes: its leader answers
// and, for a replicated stream, sees a quorum of its replicas active
// (a leader cut off from the others answers for a while before it steps
// down; its writes would fail).
//
// An answer is reused for a second: /healthz is open to anyone, and a
// flood of probes must not become a flood of JetStream requests.
func (l *Log) Healthy(ctx context.Context) error {
	l.health.mu.Lock()
	defer l.health.mu.Unlock()
	if !l.health.at.IsZero() && time.Since(l.health.at) < healthReuse {
		return l.health.err
	}
	err := l.healthy(ctx)
	if ctx.Err() == nil { // a probe that gave up says nothing of the store
		l.health.at, l.health.err = time.Now(), err
	}
	return err
}

// healthReuse is how long a Healthy answer is reused.
const healthReuse = time.Second

func (l *Log) healthy(ctx context.Context) error {
	ctx, cancel := l.ctx(ctx)
	defer cancel()
	info, err := l.st.Info(ctx)
	if err != nil {
		return fmt.Errorf("jetstream stream %s: %w", l.opts.Stream, err)
	}
	if info.Cluster == nil || info.Config.Replicas <= 1 {
		return nil
	}
	if info.Cluster.Leader == "" {
		return fmt.Errorf("jetstream stream %s: no leader", l.opts.Stream)
	}
	up := 1 // the leader
	for _, p := range info.Cluster.Replicas {
		if p != nil && p.Current && !p.Offline && p.Active < quorumActive {
			up++
		}
	}
	if up <= info.Config.Replicas/2 {
		return fmt.Errorf("jetstream stream %s: %d of %d replicas reachable, no quorum", l.opts.Stream, up, info.Config.Replicas)
	}
	return nil
}

// quorumActive is how recently a replica must have been heard from to
// count towards the quorum in Healthy.
const quorumActive = 3 * time.Second

// Kind names the store for /healthz.
func (l *Log) Kind() string { return "jetstream" }
