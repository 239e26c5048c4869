package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	// Open reserves the rest of its own millisecond as a restart hole
	// (restarts.go), so the first ids take the next one, and keep it.
	for _, id := range []eventlog.ID{ids[0], last} {
		assert.Equal(t, uint64(t0.UnixMilli())+1, id.Time(), "ids keep one millisecond")
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

// TestRestoreInTheSameMillisecond: a backup restored and started within
// the millisecond of the ids issued after it must not issue those ids
// again, and must report them as unknown resume points. Before the
// restart hole covered the whole millisecond, the restored log's next id
// was exactly the lost one (same millisecond, the same increment).
func TestRestoreInTheSameMillisecond(t *testing.T) {
	clk := newClock(t0, 0)
	dir := t.TempDir()
	old := openAt(t, filepath.Join(dir, "old.db"), eventlog.Options{Now: clk.Now})
	ctx := context.Background()
	_, err := old.Append(ctx, eventlog.Input{User: "a", Data: []byte(`1`)})
	require.NoError(t, err)
	restoredPath := filepath.Join(dir, "restored.db")
	f, err := os.Create(restoredPath)
	require.NoError(t, err)
	_, err = old.Snapshot(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	lost, err := old.Append(ctx, eventlog.Input{User: "a", Data: []byte(`2`)})
	require.NoError(t, err)
	require.NoError(t, old.Close())

	clk.Set(time.UnixMilli(int64(lost.Time()))) // the restore starts in lost's millisecond
	restored := openAt(t, restoredPath, eventlog.Options{Now: clk.Now})
	next, err := restored.Append(ctx, eventlog.Input{User: "a", Data: []byte(`3`)})
	require.NoError(t, err)
	require.NotEqual(t, lost, next, "an id of the lost history is never issued again")
	p, err := restored.ReadAfter("a", lost, 10)
	require.NoError(t, err)
	require.True(t, p.Unknown, "a lost id is unknown, however many events follow")
}

// TestIDsIssuedAfterAStartThatIssuedNone: a start with the clock ahead
// that issues nothing leaves a restart hole above the newest id. Once the
// clock is back, the next start must issue above that hole: it seeded
// from the newest id alone, so its ids fell inside the earlier hole, and
// a resume from an id this log had just issued read as unknown (the
// stream then skipped to the newest event).
func TestIDsIssuedAfterAStartThatIssuedNone(t *testing.T) {
	for _, back := range []time.Duration{30 * time.Minute, -time.Hour} {
		for _, mode := range tailModes {
			t.Run(fmt.Sprintf("%s/clock at %+v", mode.name, back), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "sselog.db")
				clk := newClock(t0, 0)
				opts := eventlog.Options{Now: clk.Now, TailSize: mode.size}
				ctx := context.Background()
				l := openAt(t, path, opts)
				first, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`0`)})
				require.NoError(t, err)
				require.NoError(t, l.Close())

				clk.Set(t0.Add(time.Hour))
				require.NoError(t, openAt(t, path, opts).Close())
				clk.Set(t0.Add(back))

				l = openAt(t, path, opts)
				var ids []eventlog.ID
				for i := range 3 {
					id, err := l.Append(ctx, eventlog.Input{User: "u", Data: jsonN(`%d`, i+1)})
					require.NoError(t, err)
					ids = append(ids, id)
				}
				require.Positive(t, ids[0].Compare(first))
				p, err := l.ReadAfter("u", ids[0], 10)
				require.NoError(t, err)
				require.False(t, p.Unknown, "%s was issued by this log", ids[0])
				require.Equal(t, ids[1:], idsOf(p.Events))
				p, err = l.ReadAfter("u", first, 10)
				require.NoError(t, err)
				require.False(t, p.Unknown)
				require.Equal(t, ids, idsOf(p.Events))
			})
		}
	}
}

// TestRestartHoleOutlivesTheNextStart: a restart hole holds across every
// later start, and a second start in the millisecond of the one before (a
// fast restart, a crash loop), which has no hole of its own to record,
// leaves that one's alone. The hole was stored as (top, top]: its bottom
// was the generator's seed, which bbolt read at commit, after it had
// become the top; the hole worked only in the run that made it, and an id
// a lost history issued inside it read as a place to resume from once the
// server restarted again.
func TestRestartHoleOutlivesTheNextStart(t *testing.T) {
	for _, starts := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d starts in its millisecond", starts), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sselog.db")
			clk := newClock(t0, 0)
			opts := eventlog.Options{Now: clk.Now}
			ctx := context.Background()
			l := openAt(t, path, opts)
			first, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`0`)})
			require.NoError(t, err)
			require.NoError(t, l.Close())

			start := t0.Add(time.Hour)
			clk.Set(start)
			for range starts { // the hole (first, end of start's millisecond]
				require.NoError(t, openAt(t, path, opts).Close())
			}

			clk.Set(start.Add(time.Hour))
			l = openAt(t, path, opts)
			next, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`1`)})
			require.NoError(t, err)
			var lost eventlog.ID // an id another history issued at start
			require.NoError(t, lost.SetTime(uint64(start.UnixMilli())))
			require.Positive(t, lost.Compare(first))
			require.Negative(t, lost.Compare(next))
			p, err := l.ReadAfter("u", lost, 10)
			require.NoError(t, err)
			require.True(t, p.Unknown, "%s lies in the hole of an earlier start", lost)
			p, err = l.ReadAfter("u", first, 10)
			require.NoError(t, err)
			require.False(t, p.Unknown)
			require.Equal(t, []eventlog.ID{next}, idsOf(p.Events))
		})
	}
}
