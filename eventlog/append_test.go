package eventlog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// commitTimes counts the distinct Event.Time values in evs. With a clock
// that steps on every call, each commit (one clock reading) has its own.
func commitTimes(evs []eventlog.Event) map[time.Time]int {
	out := map[time.Time]int{}
	for _, e := range evs {
		out[e.Time]++
	}
	return out
}

// Many concurrent appenders share commits: far fewer commits than events.
// The commits are counted by their timestamps (the clock steps on every
// reading, and a commit reads it once), so nothing internal is exposed.
func TestGroupCommitCoalesces(t *testing.T) {
	const appenders, each = 64, 20
	clk := newClock(t0, time.Millisecond)
	l := openLog(t, eventlog.Options{Now: clk.Now, TailSize: -1})
	var wg sync.WaitGroup
	for a := range appenders {
		wg.Go(func() {
			for k := range each {
				_, err := l.Append(context.Background(), eventlog.Input{User: fmt.Sprintf("u%d", a%8), Data: jsonN(`%d`, k)})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	var all []eventlog.Event
	for u := range 8 {
		evs, _ := readAll(t, l, fmt.Sprintf("u%d", u), eventlog.ZeroID, 1000)
		all = append(all, evs...)
	}
	require.Len(t, all, appenders*each)
	commits := len(commitTimes(all))
	t.Logf("%d events in %d commits", len(all), commits)
	assert.LessOrEqual(t, commits*4, len(all), "group commit should put several events in each commit")
}

// The same number of appends finishes several times faster when issued
// concurrently than one after the other: each sequential append waits for
// its own fsync, concurrent ones share it. Only a ratio is asserted, with
// a generous margin; never an absolute time.
func TestGroupCommitFasterThanSequential(t *testing.T) {
	const n = 256
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	in := eventlog.Input{User: "u", Data: []byte(`{"x":1}`)}
	start := time.Now()
	for range n {
		_, err := l.Append(ctx, in)
		require.NoError(t, err)
	}
	sequential := time.Since(start)
	start = time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := l.Append(ctx, in)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	concurrent := time.Since(start)
	t.Logf("%d appends: sequential %v, concurrent %v", n, sequential, concurrent)
	assert.Less(t, 3*concurrent, sequential, "concurrent appends should share commits")
}

// Every caller gets its own answer: invalid events fail alone with
// ErrInvalidEvent, valid ones committed alongside succeed and are stored.
func TestAppendEachCallerOwnError(t *testing.T) {
	invalid := []eventlog.Input{
		{User: "u", Data: []byte(`{"a":`)},
		{User: "u", Data: nil},
		{User: "u", Data: []byte(`1 2`)},
		{User: "u", Name: "bad\nname", Data: []byte(`1`)},
		{User: "u", Name: "tab\tname", Data: []byte(`1`)},
		{User: "u", Name: strings.Repeat("n", eventlog.MaxNameLen+1), Data: []byte(`1`)},
		{User: "bad\ruser", Data: []byte(`1`)},
		{User: strings.Repeat("u", eventlog.MaxUserLen+1), Data: []byte(`1`)},
		{User: "u", Data: []byte(`1`), IdempotencyKey: strings.Repeat("k", 40<<10)},
	}
	l := openLog(t, eventlog.Options{})
	type result struct {
		in  eventlog.Input
		id  eventlog.ID
		err error
	}
	results := make(chan result, 1000)
	var wg sync.WaitGroup
	for g := range 40 {
		wg.Go(func() {
			for k := range 10 {
				in := eventlog.Input{User: fmt.Sprintf("v%d", g%4), Name: "ok", Data: jsonN(`[%d,%d]`, g, k)}
				if (g+k)%3 == 0 {
					in = invalid[(g+k)/3%len(invalid)]
				}
				id, err := l.Append(context.Background(), in)
				results <- result{in, id, err}
			}
		})
	}
	wg.Wait()
	close(results)
	stored := map[eventlog.ID]eventlog.Input{}
	for r := range results {
		if r.in.Name == "ok" {
			require.NoError(t, r.err)
			stored[r.id] = r.in
			continue
		}
		require.ErrorIs(t, r.err, eventlog.ErrInvalidEvent, "input %.40q", r.in)
		require.Equal(t, eventlog.ZeroID, r.id)
	}
	s, err := l.Stats()
	require.NoError(t, err)
	require.Equal(t, uint64(len(stored)), s.Events, "only the valid events are stored")
	for u := range 4 {
		evs, _ := readAll(t, l, fmt.Sprintf("v%d", u), eventlog.ZeroID, 1000)
		for _, e := range evs {
			in, ok := stored[e.ID]
			require.True(t, ok, "unexpected event %s", e.ID)
			assert.Equal(t, in.User, e.User)
			assert.Equal(t, in.Data, e.Data)
		}
	}
}

func TestBatchAllOrNothing(t *testing.T) {
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			l := openLog(t, eventlog.Options{TailSize: mode.size})
			ctx := context.Background()
			good := func(u string, i int) eventlog.Input {
				return eventlog.Input{User: u, Name: "n", Data: jsonN(`{"i":%d}`, i)}
			}
			for i, bad := range []eventlog.Input{
				{User: "b", Data: []byte(`{`)},
				{User: "b", Name: "x\x00", Data: []byte(`1`)},
				{User: "b", Data: []byte(`1`), IdempotencyKey: strings.Repeat("k", 40<<10)},
			} {
				batch := []eventlog.Input{good("a", 0), good("", 1), bad, good("c", 3)}
				ids, err := l.AppendBatch(ctx, batch)
				require.ErrorIs(t, err, eventlog.ErrInvalidEvent, "bad input %d", i)
				require.Nil(t, ids)
			}
			_, err := l.AppendBatch(ctx, nil)
			require.ErrorIs(t, err, eventlog.ErrInvalidEvent)
			s, err := l.Stats()
			require.NoError(t, err)
			assert.Zero(t, s.Events)
			assert.Zero(t, s.Users)
			for _, u := range []string{"a", "b", "c", ""} {
				p, err := l.ReadAfter(u, eventlog.ZeroID, 100)
				require.NoError(t, err)
				assert.Empty(t, p.Events, "user %q", u)
			}
		})
	}
}

// A valid batch across users is one commit (one timestamp, ids adjacent
// in the global order even with other appenders busy) with ids in input
// order, and every event holds its own content.
func TestBatchIsOneCommitInInputOrder(t *testing.T) {
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			clk := newClock(t0, time.Millisecond)
			l := openLog(t, eventlog.Options{Now: clk.Now, TailSize: mode.size})
			ctx := context.Background()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						_, err := l.Append(ctx, eventlog.Input{User: "a", Data: jsonN(`"noise %d %d"`, g, i)})
						assert.NoError(t, err)
					}
				})
			}
			users := []string{"a", "b", "", "c", "a", "", "b"}
			var batches [][]eventlog.ID
			for round := range 5 {
				batch := make([]eventlog.Input, len(users))
				for i, u := range users {
					batch[i] = eventlog.Input{User: u, Name: fmt.Sprintf("e%d", i), Data: jsonN(`{"round":%d,"i":%d}`, round, i)}
				}
				ids, err := l.AppendBatch(ctx, batch)
				require.NoError(t, err)
				require.Len(t, ids, len(batch))
				require.True(t, slices.IsSortedFunc(ids, eventlog.ID.Compare), "ids in input order")
				batches = append(batches, ids)
			}
			close(stop)
			wg.Wait()
			var all []eventlog.Event
			for _, u := range []string{"a", "b", "c"} {
				evs, _ := readAll(t, l, u, eventlog.ZeroID, 1000)
				all = append(all, evs...)
			}
			all = slices.DeleteFunc(all, func(e eventlog.Event) bool { return e.User == "" })
			bc, _ := readAll(t, l, "", eventlog.ZeroID, 1000)
			all = append(all, bc...)
			slices.SortFunc(all, func(a, b eventlog.Event) int { return a.ID.Compare(b.ID) })
			pos := map[eventlog.ID]int{}
			for i, e := range all {
				pos[e.ID] = i
			}
			for round, ids := range batches {
				first := pos[ids[0]]
				for i, id := range ids {
					e := all[first+i]
					require.Equal(t, id, e.ID, "batch %d not adjacent in the global order", round)
					assert.Equal(t, users[i], e.User)
					assert.Equal(t, fmt.Sprintf("e%d", i), e.Name)
					assert.JSONEq(t, fmt.Sprintf(`{"round":%d,"i":%d}`, round, i), string(e.Data))
					assert.Equal(t, all[first].Time, e.Time, "batch %d spans several commits", round)
				}
			}
		})
	}
}

// TestGatherNeverStrandsARequest: the writer waits for a group to grow
// back to its last size, so appenders that stop one after another must
// still each be answered (the wait is bounded), and appenders running
// together must share commits.
func TestGatherNeverStrandsARequest(t *testing.T) {
	l, err := eventlog.Open(filepath.Join(t.TempDir(), "g.db"), eventlog.Options{})
	require.NoError(t, err)
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var total atomic.Uint64
	for i := range 16 {
		wg.Go(func() {
			for range 1 + i*7 { // each appender stops at its own point
				if _, err := l.Append(ctx, eventlog.Input{User: fmt.Sprintf("u%d", i), Data: []byte(`1`)}); err != nil {
					t.Error(err)
					return
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	require.NoError(t, ctx.Err(), "every append answered")
	c := l.Counts()
	require.Equal(t, total.Load(), c.StoredUser)
	require.Less(t, c.Commits, c.StoredUser, "appenders running together share commits")
}
