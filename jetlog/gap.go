package jetlog

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sselog/sselog/eventlog"
)

// gap tells whether retention may have deleted events after `after` that
// user could receive. JetStream keeps no record of what its limits
// deleted per subject, so this is decided from what is held, and errs on
// the side of reporting:
//
//   - count cap: a subject at its cap has lost its oldest events, all
//     older than its oldest held one; if that is more than one sequence
//     past the resume point and a sequence in between is gone (or the
//     run is too long to check), events in between may be gone;
//   - age: if the resume point is older than MaxAge and the stream's first
//     sequence is more than one past it, events after it are gone.
//
// Never silent: a reader that lost events is told. A reader may be told
// of a gap that held none of its events (its resume point sits just
// before another subject's deleted ones). Gap.Through, the hole's end, is
// the sequence just below the oldest held event that bounds it (with the
// id of the message there if one is held, so it is a resume point like
// any other, and resuming from it is no gap).
//
// The limits are the stream's as it is now, not this node's options: the
// last node to start sets them, and a node that kept its own (say, no cap
// while a newer node set one) told no reader of what the cap deleted.
func (l *Log) gap(ctx context.Context, user string, after eventlog.ID) (*eventlog.Gap, error) {
	info, err := l.st.Info(ctx)
	if err != nil {
		return nil, err
	}
	l.retain.set(info.Config)
	maxPer, maxAge := info.Config.MaxMsgsPerSubject, info.Config.MaxAge
	if maxPer <= 0 && maxAge <= 0 {
		return nil, nil
	}
	seq := seqOf(after)
	subjs := []string{l.subj.user("")}
	if user != "" {
		subjs = append(subjs, l.subj.user(user))
	}
	var through uint64
	for _, s := range subjs {
		first, ok, err := l.firstOf(ctx, s)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if f := seqOf(first.ID); maxPer > 0 && f > seq+1 {
			sinfo, err := l.st.Info(ctx, jetstream.WithSubjectFilter(s))
			if err != nil {
				return nil, err
			}
			if sinfo.State.Subjects[s] >= uint64(maxPer) {
				// The cap deleted s's oldest, all below f; none after
				// the resume point if every sequence between is held
				// (another subject's events).
				held, err := l.heldRun(ctx, seq+1, f-1)
				if err != nil {
					return nil, err
				}
				if !held {
					through = max(through, f-1)
				}
			}
		}
	}
	if maxAge > 0 && idTime(after).Before(l.opts.Now().Add(-maxAge)) {
		if info.State.FirstSeq > seq+1 {
			through = max(through, info.State.FirstSeq-1)
		}
	}
	if through == 0 {
		return nil, nil
	}
	id := makeID(through, time.Time{})
	switch m, err := l.rawGet(ctx, through); {
	case err == nil:
		id = m.event.ID
	case !errors.Is(err, errNotFound) && !errors.Is(err, errForeign):
		return nil, err
	}
	l.verified.add(id)
	return &eventlog.Gap{Through: id}, nil
}

// maxHeldRun bounds the run heldRun checks: a longer one is reported as
// a gap unchecked.
const maxHeldRun = 256

// heldRun reports whether the stream still holds every sequence in
// [from, to], whatever its subject: then retention deleted none of them.
// A run longer than maxHeldRun is not checked (false).
func (l *Log) heldRun(ctx context.Context, from, to uint64) (bool, error) {
	if to < from {
		return true, nil
	}
	if to-from+1 > maxHeldRun {
		return false, nil
	}
	next, missing := from, false
	for next <= to && !missing {
		more, err := l.direct(ctx, directReq{Seq: next, NextFor: l.subj.all(), Batch: int(to - next + 1)}, func(_ *nats.Msg, seq uint64) bool {
			if seq != next {
				missing = true
				return false
			}
			next++
			return next <= to
		})
		if err != nil {
			return false, err
		}
		if !more && next <= to {
			return false, nil
		}
	}
	return !missing, nil
}

// firstOf returns the oldest event held on subject s.
func (l *Log) firstOf(ctx context.Context, s string) (eventlog.Event, bool, error) {
	var e eventlog.Event
	found := false
	_, err := l.direct(ctx, directReq{Seq: 1, NextFor: s}, func(m *nats.Msg, seq uint64) bool {
		e, found = l.decode(s, seq, m.Header, m.Data, stampOf(m))
		return true
	})
	return e, found, err
}

// idTime is the publish time an id carries (bytes 8-13).
func idTime(id eventlog.ID) time.Time {
	ms := uint64(id[8])<<40 | uint64(id[9])<<32 | uint64(id[10])<<24 | uint64(id[11])<<16 | uint64(id[12])<<8 | uint64(id[13])
	return time.UnixMilli(int64(ms))
}
