package jetlog

import (
	"sync"
	"time"
)

// inflight tracks the publishes waiting for the stream's answer, so
// Stalled can say how long the oldest has waited.
type inflight struct {
	mu      sync.Mutex
	next    uint64
	started map[uint64]time.Time
}

// begin records a publish starting now; the function it returns records
// its end.
func (f *inflight) begin() func() {
	f.mu.Lock()
	if f.started == nil {
		f.started = make(map[uint64]time.Time)
	}
	f.next++
	n := f.next
	f.started[n] = time.Now()
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		delete(f.started, n)
		f.mu.Unlock()
	}
}

// oldest returns how long the oldest publish in flight has waited, 0
// when none is.
func (f *inflight) oldest() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var d time.Duration
	for _, t := range f.started {
		d = max(d, time.Since(t))
	}
	return d
}

// Stalled reports how long the oldest publish still waiting for the
// stream's acknowledgement has been waiting (0 when none is), for
// /healthz: as eventlog's commit in progress, a publish takes
// milliseconds unless the stream is stuck. (A publish gives up after
// Options.Timeout, so this stays below it.)
func (l *Log) Stalled() time.Duration { return l.inflight.oldest() }
