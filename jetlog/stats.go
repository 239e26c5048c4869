package jetlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sselog/sselog/eventlog"
)

// Stats reports the stream's figures. FileBytes is the stream's stored
// bytes on each replica; Deleted is not tracked (JetStream deletes).
func (l *Log) Stats() (eventlog.Stats, error) {
	ctx, cancel := l.ctx(context.Background())
	defer cancel()
	b := l.subj.user("")
	info, err := l.st.Info(ctx, jetstream.WithSubjectFilter(b))
	if err != nil {
		return eventlog.Stats{}, fmt.Errorf("stats %s: %w", l.opts.Stream, err)
	}
	// Newest is the follower's newest event: a node reads its own writes,
	// so wait (bounded) for it as ReadAfter does. It lagged a publish this
	// node had acknowledged when the follower was slow (a busy CI run).
	if a := l.acked.Load(); a > l.tail.seenSeq() {
		l.waitSeen(ctx, a)
	}
	s := eventlog.Stats{
		Events:     info.State.Msgs,
		Broadcasts: info.State.Subjects[b],
		FileBytes:  int64(info.State.Bytes),
		Newest:     l.Last(),
	}
	s.Users = int(info.State.NumSubjects)
	if s.Broadcasts > 0 {
		s.Users--
	}
	if info.State.Msgs > 0 {
		if e, err := l.msgGet(ctx, info.State.FirstSeq); err == nil {
			s.Oldest = e.ID
		}
	}
	return s, nil
}

// counts back Counts: the stream's figures as of the follower's last
// check (every Options.FollowerCheck), so a scrape asks JetStream nothing.
type counts struct {
	events, broadcasts, bytes atomic.Uint64
	users                     atomic.Int64
}

// refreshCounts asks the stream for its figures and keeps them for
// Counts.
func (l *Log) refreshCounts(ctx context.Context) (*jetstream.StreamInfo, error) {
	b := l.subj.user("")
	info, err := l.st.Info(ctx, jetstream.WithSubjectFilter(b))
	if err != nil {
		return nil, err
	}
	bc := info.State.Subjects[b]
	users := int64(info.State.NumSubjects)
	if bc > 0 {
		users--
	}
	l.counts.events.Store(info.State.Msgs)
	l.counts.broadcasts.Store(bc)
	l.counts.bytes.Store(info.State.Bytes)
	l.counts.users.Store(users)
	l.retain.set(info.Config)
	return info, nil
}

// Counts returns the stream's figures as of the follower's last check
// (at most Options.FollowerCheck old): reading them costs nothing. Users
// counts the user subjects holding events; FileBytes is the stream's
// stored bytes (on each replica). JetStream deletes by its own limits and
// does not say how many, so Deleted and the background counters of
// eventlog stay zero.
func (l *Log) Counts() eventlog.Counts {
	return eventlog.Counts{
		Users:      l.counts.users.Load(),
		Events:     l.counts.events.Load(),
		Broadcasts: l.counts.broadcasts.Load(),
		FileBytes:  int64(l.counts.bytes.Load()),
	}
}

// ErrNoSnapshot is returned by SnapshotSized: a JetStream stream is backed
// up with JetStream's own tools. It wraps errors.ErrUnsupported.
var ErrNoSnapshot = fmt.Errorf("%w: cluster mode keeps the log in a JetStream stream: back it up with `nats stream backup <stream> <dir>` (restore with `nats stream restore`)", errors.ErrUnsupported)

// SnapshotSized returns ErrNoSnapshot.
func (l *Log) SnapshotSized(io.Writer, func(int64) error) (int64, error) {
	return 0, ErrNoSnapshot
}
