package jetlog

import (
	"context"
	"errors"
	"fmt"
	"io"

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

// ErrNoSnapshot is returned by SnapshotSized: a JetStream stream is backed
// up with JetStream's own tools. It wraps errors.ErrUnsupported.
var ErrNoSnapshot = fmt.Errorf("%w: cluster mode keeps the log in a JetStream stream: back it up with `nats stream backup <stream> <dir>` (restore with `nats stream restore`)", errors.ErrUnsupported)

// SnapshotSized returns ErrNoSnapshot.
func (l *Log) SnapshotSized(io.Writer, func(int64) error) (int64, error) {
	return 0, ErrNoSnapshot
}
