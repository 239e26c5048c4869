package eventlog

import (
	"context"
	"time"
)

// The group commit. Appends are committed in groups, one fsync'd
// transaction each; the group's size decides what an event costs.

// submit has r committed and waits for the commit. An appender that finds
// no commit running and nobody waiting commits r itself, on its own
// goroutine: a lone publisher's append then goes from request to fsync
// without waking another goroutine and being woken back. Appenders that
// arrive while a commit runs queue, and the writer commits them together
// once it is done. Only while commits hold one request each (one
// publisher, or a trickle) does an appender commit alone: under load
// that would split the groups the writer gathers into commits of one,
// each paying a whole fsync.
func (l *Log) submit(r *request) error {
	ctx := r.ctx
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	l.wmu.Lock()
	if !l.leading && len(l.pending) == 0 && l.lastGroup <= 1 {
		l.leading = true
		l.wmu.Unlock()
		l.wg.Add(1) // Close waits for this commit
		l.mu.RUnlock()
		l.commitGroup(r.self[:])
		l.wmu.Lock()
		l.leading, l.lastGroup = false, 1
		more := len(l.pending) > 0
		l.wmu.Unlock()
		if more {
			l.kickWriter()
		}
		l.wg.Done()
		return r.err
	}
	l.pending = append(l.pending, r)
	kick := !l.leading
	if l.want > 0 && len(l.pending) >= l.want {
		l.want = 0
		select {
		case l.groupFull <- struct{}{}:
		default:
		}
	}
	l.wmu.Unlock()
	l.mu.RUnlock()
	if kick {
		l.kickWriter()
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Log) kickWriter() {
	select {
	case l.writerKick <- struct{}{}:
	default:
	}
}

// writeLoop commits what appenders queue while another commit runs.
func (l *Log) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.writerKick:
			l.commitPending(true)
		}
	}
}

// commitPending commits queued requests, up to MaxGroup events at a
// time, until none is left or another commit is running (whoever runs
// it kicks the writer when it is done). With gather, it first lets a
// group grow (gather).
func (l *Log) commitPending(gather bool) {
	var group []*request
	for {
		l.wmu.Lock()
		if gather {
			l.gather()
		}
		if l.leading || len(l.pending) == 0 {
			l.wmu.Unlock()
			return
		}
		n, k := 0, 0
		for k < len(l.pending) && (k == 0 || n+len(l.pending[k].events) <= l.opts.MaxGroup) {
			n += len(l.pending[k].events)
			k++
		}
		group = append(group[:0], l.pending[:k]...)
		l.pending = append(l.pending[:0], l.pending[k:]...)
		l.leading = true
		l.wmu.Unlock()
		start := time.Now()
		l.commitGroup(group)
		l.wmu.Lock()
		l.leading, l.lastGroup, l.lastCommit = false, len(group), time.Since(start)
		l.wmu.Unlock()
	}
}

// gather waits, with wmu held on entry and on return, for the queue to
// grow back to the size of the last group, for at most as long as the
// last commit took (and never over maxGather). Under load, every commit
// costs the machine a fixed share of CPU whatever it holds (an fsync's
// system time is ~130 µs on a virtual disk), and publishers whose
// requests were just answered are on their way back: committing the
// first of them alone spends that share on a group of one while the CPU
// is the bottleneck. Waiting for the rest cut server CPU per event by
// about a sixth at 64 publishers and raised throughput by a tenth
// (docs/performance.md). A lone publisher never waits: its groups hold
// one request.
func (l *Log) gather() {
	target := l.lastGroup
	if target <= 1 || l.leading || len(l.pending) == 0 || len(l.pending) >= target {
		return
	}
	select { // a signal left from an earlier wait
	case <-l.groupFull:
	default:
	}
	l.want = target
	l.wmu.Unlock()
	t := time.NewTimer(min(l.lastCommit, maxGather))
	select {
	case <-l.groupFull:
	case <-t.C:
	}
	t.Stop()
	l.wmu.Lock()
	l.want = 0
}

// maxGather bounds gather's wait, whatever a slow disk's commits take.
const maxGather = time.Millisecond
