package eventlog_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// mono is an injectable monotonic clock: Options.Elapsed.
type mono struct{ d atomic.Int64 }

func (m *mono) Elapsed() time.Duration { return time.Duration(m.d.Load()) }
func (m *mono) Add(d time.Duration)    { m.d.Add(int64(d)) }

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// Within a run, events and idempotency keys age by the monotonic clock: a
// wall clock stepped a year ahead deletes nothing and expires no key (a
// keyed retry stores no duplicate); time that really passes still ages
// them.
func TestWallClockStepWithinRun(t *testing.T) {
	for _, step := range []time.Duration{365 * 24 * time.Hour, -365 * 24 * time.Hour} {
		t.Run(step.String(), func(t *testing.T) {
			clk, m := newClock(t0, 0), &mono{}
			l := openLog(t, eventlog.Options{Now: clk.Now, Elapsed: m.Elapsed, MaxAge: time.Hour, IdempotencyWindow: time.Hour})
			ctx := context.Background()
			in := eventlog.Input{User: "u", Data: []byte(`1`), IdempotencyKey: "k"}
			first, err := l.Append(ctx, in)
			require.NoError(t, err)

			clk.Add(step)
			m.Add(time.Minute)
			assert.Zero(t, compact(t, l), "a wall clock step deletes nothing")
			again, err := l.Append(ctx, in)
			require.NoError(t, err)
			assert.Equal(t, first, again, "nor expires a key")
			later, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`2`)})
			require.NoError(t, err)
			assert.Positive(t, later.Compare(first), "ids never go backwards")

			m.Add(2 * time.Hour) // time passes
			clk.Add(2 * time.Hour)
			// An event published while the wall clock was a year ahead is
			// stamped then (ids follow the wall clock, never backwards) and
			// ages from that stamp.
			want := map[bool]int{true: 1, false: 2}[step > 0]
			assert.Equal(t, want, compact(t, l), "real time still ages events")
			fresh, err := l.Append(ctx, in)
			require.NoError(t, err)
			assert.NotEqual(t, first, fresh, "and keys")
		})
	}
}

// Across a restart, a wall clock far ahead of the newest event (more than
// MaxClockJump) is logged and not trusted for ageing: nothing is mass
// deleted, keys live on; a clock behind the newest event is logged too.
func TestWallClockFarOffAtStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  time.Duration
		says string
	}{
		{"ahead", 365 * 24 * time.Hour, "ahead of the newest event"},
		{"behind", -365 * 24 * time.Hour, "behind the newest event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sselog.db")
			clk := newClock(t0, 0)
			l := openAt(t, path, eventlog.Options{Now: clk.Now})
			ctx := context.Background()
			in := eventlog.Input{User: "u", Data: []byte(`1`), IdempotencyKey: "k"}
			first, err := l.Append(ctx, in)
			require.NoError(t, err)
			require.NoError(t, l.Close())

			clk.Add(tc.off)
			m := &mono{}
			var logs logBuf
			l = openAt(t, path, eventlog.Options{Now: clk.Now, Elapsed: m.Elapsed, MaxAge: time.Hour, IdempotencyWindow: time.Hour,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			assert.Contains(t, logs.String(), tc.says)
			assert.Zero(t, compact(t, l), "no mass delete")
			again, err := l.Append(ctx, in)
			require.NoError(t, err)
			assert.Equal(t, first, again, "the key lives on")
			next, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`2`)})
			require.NoError(t, err)
			assert.Positive(t, next.Compare(first), "ids never go backwards")

			m.Add(2 * time.Hour)
			clk.Add(2 * time.Hour)
			// Behind: both events carry the newest event's time (ids never go
			// back) and age from it. Ahead: the new event is stamped by the
			// wall clock and ages from that stamp.
			want := map[bool]int{true: 1, false: 2}[tc.off > 0]
			assert.Equal(t, want, compact(t, l), "ageing goes on from the newest event")
		})
	}
}

// TestKeyStoredOnABehindClockOutlivesARestart: the ageing clock starts
// from the wall clock at Open. Booted 48 h behind and corrected within
// the run, it kept running 48 h behind, and keys stored then looked 48 h
// old at the next start, with a right clock: key expiry dropped them and
// a retry six minutes after the first publish stored a second event. A
// key now lives while either clock says it is within the window.
func TestKeyStoredOnABehindClockOutlivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sselog.db")
	ctx := context.Background()
	clk, m := newClock(t0.Add(-48*time.Hour), 0), &mono{} // a fresh log, the clock 48 h behind
	l := openAt(t, path, eventlog.Options{Now: clk.Now, Elapsed: m.Elapsed})
	m.Add(time.Minute)
	clk.Set(t0) // NTP steps the wall clock to the right time
	in := eventlog.Input{User: "u", Data: []byte(`{"order":7}`), IdempotencyKey: "order-7"}
	first, err := l.Append(ctx, in)
	require.NoError(t, err)
	require.NoError(t, l.Close())

	clk.Set(t0.Add(5 * time.Minute)) // restarted five minutes later
	m = &mono{}
	l = openAt(t, path, eventlog.Options{Now: clk.Now, Elapsed: m.Elapsed})
	m.Add(time.Minute)
	compact(t, l) // key expiry runs
	again, err := l.Append(ctx, in)
	require.NoError(t, err)
	require.Equal(t, first, again, "a retry six minutes after the first publish")

	// Past the window on both clocks, the key goes.
	m.Add(25 * time.Hour)
	clk.Add(25 * time.Hour)
	compact(t, l)
	later, err := l.Append(ctx, in)
	require.NoError(t, err)
	require.NotEqual(t, first, later, "a day later the key is free again")
}
