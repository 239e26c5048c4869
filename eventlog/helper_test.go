package eventlog_test

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// openLog opens a real log in a temp dir; at cleanup it closes it and runs
// bbolt's consistency check on the file.
func openLog(tb testing.TB, opts eventlog.Options) *eventlog.Log {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "sselog.db"), opts)
}

// openAt is openLog at a chosen path, for tests that close and reopen.
// Closing twice is harmless: the cleanup ignores ErrClosed.
func openAt(tb testing.TB, path string, opts eventlog.Options) *eventlog.Log {
	tb.Helper()
	l, err := eventlog.Open(path, opts)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = l.Close()
		checkFile(tb, path)
	})
	return l
}

func checkFile(tb testing.TB, path string) {
	tb.Helper()
	require.NoError(tb, eventlog.Verify(path))
}

// clock is an injectable Options.Now. With a step, every call advances it,
// so each commit (one Now call each) gets its own timestamp.
type clock struct {
	ns   atomic.Int64
	step time.Duration
}

func newClock(t time.Time, step time.Duration) *clock {
	c := &clock{step: step}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time {
	if c.step != 0 {
		return time.Unix(0, c.ns.Add(int64(c.step)))
	}
	return time.Unix(0, c.ns.Load())
}

func (c *clock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) Peek() time.Time     { return time.Unix(0, c.ns.Load()) }

// t0 is a fixed start for injected clocks.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// readAll pages through everything user can read after `after`, checking
// that every page continues strictly above the previous one. It returns
// the events and the gap the first page reported.
func readAll(tb testing.TB, l *eventlog.Log, user string, after eventlog.ID, page int) ([]eventlog.Event, *eventlog.Gap) {
	tb.Helper()
	var out []eventlog.Event
	var gap *eventlog.Gap
	cur := after
	for first := true; ; first = false {
		p, err := l.ReadAfter(user, cur, page)
		require.NoError(tb, err)
		if first {
			gap = p.Gap
		}
		if len(p.Events) == 0 {
			return out, gap
		}
		if len(p.Events) > page {
			tb.Fatalf("user %q: page of %d events for a limit of %d", user, len(p.Events), page)
		}
		for _, e := range p.Events {
			// Plain checks: this loop runs a million times in some tests.
			if e.ID.Compare(cur) <= 0 {
				tb.Fatalf("user %q: %s not after %s", user, e.ID, cur)
			}
			if e.User != user && e.User != "" {
				tb.Fatalf("user %q read an event of %q", user, e.User)
			}
			cur = e.ID
		}
		out = append(out, p.Events...)
	}
}

func idsOf(evs []eventlog.Event) []eventlog.ID {
	out := make([]eventlog.ID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// jsonN is a small valid JSON value that names its origin.
func jsonN(format string, a ...any) []byte { return fmt.Appendf(nil, format, a...) }

// tailModes runs a test with the in-memory tail on (default) and off, so
// both read paths answer the same questions.
var tailModes = []struct {
	name string
	size int
}{{"tail", 0}, {"file", -1}}
