// Package eventlogtest is the test kit for code built on eventlog: it opens
// a real log in a test's temporary directory and, at cleanup, closes it and
// runs bbolt's consistency check on the file; and it reads back what a
// user can read, checking order on the way. Tests only.
package eventlogtest

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// Open opens a real log at sselog.db in tb.TempDir().
func Open(tb testing.TB, opts eventlog.Options) *eventlog.Log {
	tb.Helper()
	return OpenAt(tb, filepath.Join(tb.TempDir(), "sselog.db"), opts)
}

// OpenAt opens a real log at path; at cleanup it closes it (closing twice
// is harmless) and checks the file.
func OpenAt(tb testing.TB, path string, opts eventlog.Options) *eventlog.Log {
	tb.Helper()
	l, err := eventlog.Open(path, opts)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = l.Close()
		Check(tb, path)
	})
	return l
}

// Check runs bbolt's consistency check on the closed file at path.
func Check(tb testing.TB, path string) {
	tb.Helper()
	require.NoError(tb, eventlog.Verify(path))
}

// ReadAll pages through everything user can read after `after`, page
// events at a time, requiring every event to sort above the one before and
// to belong to user or the broadcasts. It returns the events and the gap
// the first page reported.
func ReadAll(tb testing.TB, l *eventlog.Log, user string, after eventlog.ID, page int) ([]eventlog.Event, *eventlog.Gap) {
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

// Events is ReadAll from the oldest retained event in pages of
// eventlog.MaxLimit, requiring that no gap is reported.
func Events(tb testing.TB, l *eventlog.Log, user string) []eventlog.Event {
	tb.Helper()
	evs, gap := ReadAll(tb, l, user, eventlog.ZeroID, eventlog.MaxLimit)
	require.Nil(tb, gap, "no gap expected for %q", user)
	return evs
}

// IDs returns the ids of evs.
func IDs(evs []eventlog.Event) []eventlog.ID {
	out := make([]eventlog.ID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}
