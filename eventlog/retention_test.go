package eventlog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

func appendN(t *testing.T, l *eventlog.Log, user string, n int) []eventlog.ID {
	t.Helper()
	ids := make([]eventlog.ID, n)
	for i := range ids {
		id, err := l.Append(context.Background(), eventlog.Input{User: user, Data: jsonN(`%d`, i)})
		require.NoError(t, err)
		ids[i] = id
	}
	return ids
}

func compact(t *testing.T, l *eventlog.Log) int {
	t.Helper()
	n, err := l.Compact(context.Background())
	require.NoError(t, err)
	return n
}

func stats(t *testing.T, l *eventlog.Log) eventlog.Stats {
	t.Helper()
	s, err := l.Stats()
	require.NoError(t, err)
	return s
}

// idAt is a well-formed id at time ts that this log never issued.
func idAt(ts time.Time) eventlog.ID {
	var id eventlog.ID
	_ = id.SetTime(uint64(ts.UnixMilli()))
	id[15] = 0x5a
	return id
}

func TestRetentionByAge(t *testing.T) {
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			clk := newClock(t0, 0)
			l := openLog(t, eventlog.Options{Now: clk.Now, MaxAge: time.Hour, TailSize: mode.size})
			old := appendN(t, l, "u", 5)
			clk.Add(30 * time.Minute)
			kept := appendN(t, l, "u", 5)
			gone := appendN(t, l, "x", 2)[1] // x's last event is 30 min old too
			clk.Set(t0.Add(80 * time.Minute))
			require.Equal(t, 5, compact(t, l))
			assert.Equal(t, uint64(5), stats(t, l).Deleted)

			// From zero: the oldest retained, no gap.
			evs, gap := readAll(t, l, "u", eventlog.ZeroID, 3)
			assert.Nil(t, gap)
			assert.Equal(t, kept, idsOf(evs))
			// From a deleted id: a gap naming the oldest held, then the rest.
			for _, after := range old[:4] {
				evs, gap = readAll(t, l, "u", after, 3)
				require.NotNil(t, gap, "after %s", after)
				assert.Equal(t, kept[0], gap.Oldest)
				assert.Equal(t, kept, idsOf(evs))
			}
			// From the gap mark (the newest deleted) or above: no gap.
			for _, after := range append([]eventlog.ID{old[4]}, kept...) {
				_, gap = readAll(t, l, "u", after, 3)
				assert.Nil(t, gap, "after %s", after)
			}
			// A well-formed id never issued, between issued ids: no error.
			evs, gap = readAll(t, l, "u", idAt(t0.Add(10*time.Minute)), 3)
			assert.Nil(t, gap)
			assert.Equal(t, kept, idsOf(evs))
			// Beyond the newest: nothing, no error.
			p, err := l.ReadAfter("u", idAt(t0.Add(24*time.Hour)), 3)
			require.NoError(t, err)
			assert.Empty(t, p.Events)
			assert.Nil(t, p.Gap)
			assert.Equal(t, l.Last(), p.Last)

			// x's events expire later; its empty bucket goes, its gap stays.
			require.Equal(t, 2, stats(t, l).Users)
			clk.Set(t0.Add(100 * time.Minute))
			require.Equal(t, 7, compact(t, l))
			s := stats(t, l)
			assert.Equal(t, 0, s.Users, "empty user buckets are removed")
			assert.Zero(t, s.Events)
			evs, gap = readAll(t, l, "x", eventlog.ZeroID, 3)
			assert.Empty(t, evs)
			assert.Nil(t, gap)
			p, err = l.ReadAfter("x", idAt(t0), 3)
			require.NoError(t, err)
			require.NotNil(t, p.Gap, "the gap outlives the bucket")
			assert.Equal(t, eventlog.ZeroID, p.Gap.Oldest, "nothing is held")
			p, err = l.ReadAfter("x", gone, 3)
			require.NoError(t, err)
			assert.Nil(t, p.Gap)

			// A new event for x: a fresh bucket; old resume points still see the gap.
			next := appendN(t, l, "x", 1)[0]
			p, err = l.ReadAfter("x", idAt(t0), 3)
			require.NoError(t, err)
			require.NotNil(t, p.Gap)
			assert.Equal(t, next, p.Gap.Oldest)
			assert.Equal(t, []eventlog.ID{next}, idsOf(p.Events))
			assert.Equal(t, 1, stats(t, l).Users)
		})
	}
}

// A count cap applies per user: a noisy user keeps its newest MaxEvents
// and cannot evict a quiet user's history.
func TestRetentionByCountPerUser(t *testing.T) {
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			l := openLog(t, eventlog.Options{MaxEvents: 5, TailSize: mode.size})
			ctx := context.Background()
			quiet := appendN(t, l, "quiet", 3)
			var noisy []eventlog.ID
			for range 3 {
				batch := make([]eventlog.Input, 1100) // trimmed over several transactions
				for i := range batch {
					batch[i] = eventlog.Input{User: "noisy", Data: jsonN(`%d`, i)}
				}
				ids, err := l.AppendBatch(ctx, batch)
				require.NoError(t, err)
				noisy = append(noisy, ids...)
			}
			require.Equal(t, len(noisy)-5, compact(t, l))
			require.Zero(t, compact(t, l), "a second pass has nothing to do")
			s := stats(t, l)
			assert.Equal(t, uint64(8), s.Events)
			assert.Equal(t, 2, s.Users)

			evs, gap := readAll(t, l, "quiet", quiet[0], 10)
			assert.Nil(t, gap, "the quiet user lost nothing")
			assert.Equal(t, quiet[1:], idsOf(evs))
			evs, gap = readAll(t, l, "noisy", noisy[0], 10)
			require.NotNil(t, gap)
			assert.Equal(t, noisy[len(noisy)-5], gap.Oldest)
			assert.Equal(t, noisy[len(noisy)-5:], idsOf(evs))
			_, gap = readAll(t, l, "noisy", noisy[len(noisy)-6], 10)
			assert.Nil(t, gap)
			_, gap = readAll(t, l, "noisy", noisy[len(noisy)-7], 10)
			assert.NotNil(t, gap)
		})
	}
}

// Broadcast has its own limits, and its gap reaches every user's reads;
// Gap.Oldest is the oldest id held among the user's events and broadcasts.
func TestRetentionBroadcastLimits(t *testing.T) {
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			clk := newClock(t0, 0)
			l := openLog(t, eventlog.Options{
				Now: clk.Now, TailSize: mode.size,
				MaxAge: time.Hour, MaxEvents: 100, // user limits, not reached
				BroadcastMaxEvents: 3, BroadcastMaxAge: 2 * time.Hour,
			})
			early := appendN(t, l, "u", 2)
			bc := appendN(t, l, "", 6)
			late := appendN(t, l, "u", 1)
			require.Equal(t, 3, compact(t, l), "only broadcasts are over their limit")
			assert.Equal(t, uint64(3), stats(t, l).Broadcasts)

			// A user reader resuming at a deleted broadcast is told, with
			// the first id after it that it can still receive.
			evs, gap := readAll(t, l, "u", bc[0], 10)
			require.NotNil(t, gap)
			assert.Equal(t, bc[3], gap.Oldest)
			assert.Equal(t, bc[2], gap.Through)
			_, gap = readAll(t, l, "u", eventlog.ZeroID, 10)
			assert.Nil(t, gap)
			_ = early
			assert.Equal(t, append(append([]eventlog.ID{}, bc[3:]...), late...), idsOf(evs))
			// A user with no bucket at all still hears of the broadcast gap.
			evs, gap = readAll(t, l, "nobody", bc[1], 10)
			require.NotNil(t, gap)
			assert.Equal(t, bc[3], gap.Oldest)
			assert.Equal(t, bc[3:], idsOf(evs))
			// Broadcast-only reader.
			_, gap = readAll(t, l, "", bc[2], 10)
			assert.Nil(t, gap)
			evs, gap = readAll(t, l, "", eventlog.ZeroID, 10)
			assert.Nil(t, gap)
			assert.Equal(t, bc[3:], idsOf(evs))

			// Broadcast age: 2 h. User age (1 h) does not apply to broadcasts.
			clk.Add(90 * time.Minute)
			assert.Equal(t, 3, compact(t, l), "user events past one hour go")
			assert.Equal(t, uint64(3), stats(t, l).Broadcasts)
			clk.Add(time.Hour)
			assert.Equal(t, 3, compact(t, l))
			s := stats(t, l)
			assert.Zero(t, s.Events)
			evs, gap = readAll(t, l, "u", bc[4], 10)
			require.NotNil(t, gap)
			assert.Equal(t, eventlog.ZeroID, gap.Oldest)
			assert.Empty(t, evs)
		})
	}
}

// The background compactor runs on its own, in small transactions that
// let appends through, and the counts stay exact.
func TestCompactorRunsWithAppends(t *testing.T) {
	l := openLog(t, eventlog.Options{MaxEvents: 50, BroadcastMaxEvents: 20, CompactInterval: 5 * time.Millisecond})
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				user := fmt.Sprintf("u%d", g%4)
				if i%10 == 0 {
					user = ""
				}
				_, err := l.Append(ctx, eventlog.Input{User: user, Data: jsonN(`%d`, i)})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	deadline := time.After(30 * time.Second)
	for {
		// Deleted is counted just after each retention commit: wait for
		// both figures to settle.
		s := stats(t, l)
		if s.Events == 4*50+20 && s.Deleted == 800-s.Events {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("compactor did not trim: %+v", s)
		case <-time.After(5 * time.Millisecond):
		}
	}
	total := 0
	for u := range 4 {
		evs, _ := readAll(t, l, fmt.Sprintf("u%d", u), eventlog.ZeroID, 100)
		total += len(evs)
	}
	assert.Equal(t, 4*(50+20), total)
}

// model is what retention should leave: per bucket ("" = broadcast) the
// ids held and the newest id deleted.
type model struct {
	held map[string][]eventlog.ID
	mark map[string]eventlog.ID
}

func (m *model) trim(user string, cutoff time.Time, maxN int) {
	ids := m.held[user]
	n := 0
	for n < len(ids) && (int64(ids[n].Time()) < cutoff.UnixMilli() || (maxN > 0 && len(ids)-n > maxN)) {
		n++
	}
	if n > 0 {
		m.mark[user] = ids[n-1]
		m.held[user] = ids[n:]
	}
}

// want is what ReadAfter(user, after) should return: every held id of the
// user or broadcast above after, whether a gap is due (and the first id
// held after the resume point it names), and whether after was never
// issued to user.
func (m *model) want(user string, after eventlog.ID) (ids []eventlog.ID, gap bool, oldest eventlog.ID, unknown bool) {
	ids = []eventlog.ID{}
	all := slices.Clone(m.held[""])
	if user != "" {
		all = append(all, m.held[user]...)
	}
	slices.SortFunc(all, eventlog.ID.Compare)
	for _, id := range all {
		if id.Compare(after) > 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		oldest = ids[0]
	}
	gap = after != eventlog.ZeroID && (after.Compare(m.mark[user]) < 0 || after.Compare(m.mark[""]) < 0)
	// Every id this log issued, any user's, deleted or not, is a place
	// to resume from: never unknown.
	return ids, gap, oldest, false
}

// Random appends, clock moves and compactions, checked after each round
// against a model of the retention rules, from every resume point.
func TestRetentionMatchesModel(t *testing.T) {
	const maxAge, maxN, bMaxAge, bMaxN = time.Hour, 6, 90 * time.Minute, 4
	users := []string{"a", "b", "c", ""}
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			clk := newClock(t0, 0)
			l := openLog(t, eventlog.Options{Now: clk.Now, TailSize: mode.size,
				MaxAge: maxAge, MaxEvents: maxN, BroadcastMaxAge: bMaxAge, BroadcastMaxEvents: bMaxN})
			m := &model{held: map[string][]eventlog.ID{}, mark: map[string]eventlog.ID{}}
			var issued []eventlog.ID
			gaps := 0
			rnd := rand.New(rand.NewPCG(3, 4))
			for round := range 25 {
				for range rnd.IntN(12) {
					u := users[rnd.IntN(len(users))]
					id := appendN(t, l, u, 1)[0]
					m.held[u] = append(m.held[u], id)
					issued = append(issued, id)
				}
				clk.Add(time.Duration(rnd.IntN(40)) * time.Minute)
				if round%3 == 2 {
					compact(t, l)
					for _, u := range users {
						age, n := maxAge, maxN
						if u == "" {
							age, n = bMaxAge, bMaxN
						}
						m.trim(u, clk.Peek().Add(-age), n)
					}
				}
				for _, u := range append(users, "nobody") {
					for _, after := range append([]eventlog.ID{eventlog.ZeroID}, issued...) {
						ids, gap, oldest, unknown := m.want(u, after)
						p, err := l.ReadAfter(u, after, 5)
						require.NoError(t, err)
						require.Equal(t, unknown, p.Unknown, "round %d user %q after %s: unknown", round, u, after)
						evs, g := readAll(t, l, u, after, 5)
						require.Equal(t, ids, idsOf(evs), "round %d user %q after %s", round, u, after)
						require.Equal(t, gap, g != nil, "round %d user %q after %s: gap", round, u, after)
						if gap {
							gaps++
							require.Equal(t, oldest, g.Oldest, "round %d user %q after %s: oldest", round, u, after)
						}
					}
				}
			}
			s := stats(t, l)
			t.Logf("%d issued, %d held, %d deleted, %d reads reported a gap", len(issued), s.Events, s.Deleted, gaps)
			require.Positive(t, s.Deleted)
			require.Positive(t, gaps)
		})
	}
}
