package eventlog_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// requireIncreasing checks ids strictly increase and returns the last.
func requireIncreasing(t *testing.T, after eventlog.ID, ids []eventlog.ID) eventlog.ID {
	t.Helper()
	for _, id := range ids {
		require.Positive(t, id.Compare(after), "%s not after %s", id, after)
		after = id
	}
	return after
}

func TestIDsWithinOneMillisecond(t *testing.T) {
	clk := newClock(t0, 0) // frozen: every commit in the same millisecond
	l := openLog(t, eventlog.Options{Now: clk.Now})
	ctx := context.Background()
	batch := make([]eventlog.Input, 2000)
	for i := range batch {
		batch[i] = eventlog.Input{User: "u", Data: []byte(`1`)}
	}
	ids, err := l.AppendBatch(ctx, batch)
	require.NoError(t, err)
	last := requireIncreasing(t, eventlog.ZeroID, ids)
	last = requireIncreasing(t, last, appendN(t, l, "v", 50))
	for _, id := range []eventlog.ID{ids[0], last} {
		assert.Equal(t, uint64(t0.UnixMilli()), id.Time(), "ids keep the clock's millisecond")
	}
}

func TestIDsWhenTheClockStepsBack(t *testing.T) {
	clk := newClock(t0, 0)
	l := openLog(t, eventlog.Options{Now: clk.Now})
	last := requireIncreasing(t, eventlog.ZeroID, appendN(t, l, "u", 10))
	clk.Add(-time.Hour)
	last = requireIncreasing(t, last, appendN(t, l, "u", 10))
	clk.Add(-time.Hour)
	last = requireIncreasing(t, last, appendN(t, l, "", 10))
	clk.Set(t0.Add(time.Minute)) // forward again: ids follow the clock
	next := appendN(t, l, "u", 1)[0]
	requireIncreasing(t, last, []eventlog.ID{next})
	assert.Equal(t, uint64(t0.Add(time.Minute).UnixMilli()), next.Time())
	evs, _ := readAll(t, l, "u", eventlog.ZeroID, 100)
	assert.Len(t, evs, 31)
}

// After a restart, ids continue above the largest on disk even when the
// clock now reads earlier than it did.
func TestIDsContinueAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sselog.db")
	clk := newClock(t0, 0)
	l, err := eventlog.Open(path, eventlog.Options{Now: clk.Now})
	require.NoError(t, err)
	last := requireIncreasing(t, eventlog.ZeroID, appendN(t, l, "u", 5))
	last = requireIncreasing(t, last, appendN(t, l, "", 5))
	require.NoError(t, l.Close())

	for _, back := range []time.Duration{time.Hour, 24 * time.Hour, 0} {
		clk.Set(t0.Add(-back))
		l = openAt(t, path, eventlog.Options{Now: clk.Now})
		assert.Equal(t, last, l.Last(), "Last survives a restart")
		last = requireIncreasing(t, last, appendN(t, l, "w", 3))
		require.NoError(t, l.Close())
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"01ARZ3NDEKTSV4RRFFQ69G5FAV", "00000000000000000000000000", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
		"01arz3ndektsv4rrffq69g5fav", "80000000000000000000000000", "01ARZ3NDEKTSV4RRFFQ69G5FA",
		"01ARZ3NDEKTSV4RRFFQ69G5FAVX", "01ARZ3NDEKTSV4RRFFQ69G5FAU", "0IARZ3NDEKTSV4RRFFQ69G5FAV",
		"", "550e8400-e29b-41d4-a716-446655440000", "01ARZ3NDEKTSV4RRFFQ69G5F\nV",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := eventlog.ParseID(s)
		if err != nil {
			if !errors.Is(err, eventlog.ErrInvalidID) {
				t.Fatalf("ParseID(%q): %v does not wrap ErrInvalidID", s, err)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("ParseID(%q): error of %d bytes echoes the input", s, len(err.Error()))
			}
			return
		}
		// Only the 26-character Crockford form parses, case-insensitively,
		// and it round-trips through String.
		if len(s) != 26 || !strings.EqualFold(id.String(), s) {
			t.Fatalf("ParseID(%q) = %s", s, id)
		}
		again, err := eventlog.ParseID(id.String())
		if err != nil || again != id {
			t.Fatalf("ParseID(%s) = %s, %v", id, again, err)
		}
		if slices.ContainsFunc([]byte(s), func(c byte) bool { return c < 0x21 || c > 0x7e }) {
			t.Fatalf("ParseID accepted %q with a byte outside printable ASCII", s)
		}
	})
}
