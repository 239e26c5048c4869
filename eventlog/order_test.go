package eventlog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// ack is one acknowledged append and when it ran, on a global sequence
// counter: start is taken before Append is called, end after it returned.
type ack struct {
	id         eventlog.ID
	user, name string
	data       []byte
	appender   int
	start, end int64
}

// appendConcurrently runs appenders goroutines of perAppender appends each,
// spread over users user-000… and broadcast (about one in twenty).
func appendConcurrently(t *testing.T, l *eventlog.Log, appenders, perAppender, users int) []ack {
	t.Helper()
	var seq atomic.Int64
	out := make([][]ack, appenders)
	var wg sync.WaitGroup
	for a := range appenders {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(a), 7))
			for k := range perAppender {
				user := fmt.Sprintf("user-%03d", rnd.IntN(users))
				if rnd.IntN(20) == 0 {
					user = ""
				}
				in := eventlog.Input{User: user, Name: fmt.Sprintf("n%d", k%3), Data: jsonN(`{"a":%d,"k":%d}`, a, k)}
				start := seq.Add(1)
				id, err := l.Append(context.Background(), in)
				end := seq.Add(1)
				if !assert.NoError(t, err) {
					return
				}
				out[a] = append(out[a], ack{id, user, in.Name, in.Data, a, start, end})
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	return slices.Concat(out...)
}

func TestOrderConcurrentAppenders(t *testing.T) {
	const appenders, perAppender, users = 64, 40, 100
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			l := openLog(t, eventlog.Options{TailSize: mode.size})
			acks := appendConcurrently(t, l, appenders, perAppender, users)
			require.Len(t, acks, appenders*perAppender)
			checkPerAppender(t, acks)
			checkHappensBefore(t, acks)
			checkStats(t, l, acks)
			for u := range users {
				checkUserReads(t, l, fmt.Sprintf("user-%03d", u), acks)
			}
			checkUserReads(t, l, "", acks)
		})
	}
}

// checkPerAppender: each appender's ids increase, and no id is issued twice.
func checkPerAppender(t *testing.T, acks []ack) {
	seen := make(map[eventlog.ID]bool, len(acks))
	last := map[int]eventlog.ID{}
	for _, a := range acks {
		require.False(t, seen[a.id], "id %s issued twice", a.id)
		seen[a.id] = true
		require.Positive(t, a.id.Compare(last[a.appender]), "appender %d went backwards", a.appender)
		last[a.appender] = a.id
	}
}

// checkHappensBefore: an append acknowledged before another one started
// committed first, so it has the smaller id (commit order is id order).
func checkHappensBefore(t *testing.T, acks []ack) {
	byEnd := slices.Clone(acks)
	slices.SortFunc(byEnd, func(a, b ack) int { return int(a.end - b.end) })
	prefixMax := make([]eventlog.ID, len(byEnd)+1)
	for i, a := range byEnd {
		prefixMax[i+1] = prefixMax[i]
		if a.id.Compare(prefixMax[i]) > 0 {
			prefixMax[i+1] = a.id
		}
	}
	for _, b := range acks {
		n := sort.Search(len(byEnd), func(i int) bool { return byEnd[i].end > b.start })
		require.Positive(t, b.id.Compare(prefixMax[n]),
			"append %s started after %d others were acknowledged, one of them with a larger id", b.id, n)
	}
}

func checkStats(t *testing.T, l *eventlog.Log, acks []ack) {
	s, err := l.Stats()
	require.NoError(t, err)
	var broadcasts uint64
	users := map[string]bool{}
	minID, maxID := acks[0].id, acks[0].id
	for _, a := range acks {
		if a.user == "" {
			broadcasts++
		} else {
			users[a.user] = true
		}
		if a.id.Compare(minID) < 0 {
			minID = a.id
		}
		if a.id.Compare(maxID) > 0 {
			maxID = a.id
		}
	}
	assert.Equal(t, uint64(len(acks)), s.Events)
	assert.Equal(t, broadcasts, s.Broadcasts)
	assert.Equal(t, len(users), s.Users)
	assert.Equal(t, minID, s.Oldest)
	assert.Equal(t, maxID, s.Newest)
	assert.Equal(t, maxID, l.Last())
}

// checkUserReads: the user's stream read from the start is its events and
// the broadcasts merged in id order, with their content; read after any
// of its ids, it is exactly the rest of that stream.
func checkUserReads(t *testing.T, l *eventlog.Log, user string, acks []ack) {
	var want []ack
	for _, a := range acks {
		if a.user == user || a.user == "" {
			want = append(want, a)
		}
	}
	slices.SortFunc(want, func(a, b ack) int { return a.id.Compare(b.id) })
	got, gap := readAll(t, l, user, eventlog.ZeroID, 37)
	require.Nil(t, gap)
	require.Len(t, got, len(want), "user %q", user)
	for i, e := range got {
		w := want[i]
		require.Equal(t, w.id, e.ID, "user %q event %d", user, i)
		require.Equal(t, w.user, e.User)
		require.Equal(t, w.name, e.Name)
		require.JSONEq(t, string(w.data), string(e.Data))
	}
	wantIDs := idsOf(got)
	for i, after := range wantIDs {
		rest, gap := readAll(t, l, user, after, 50)
		require.Nil(t, gap)
		if !slices.Equal(wantIDs[i+1:], idsOf(rest)) {
			require.Equal(t, wantIDs[i+1:], idsOf(rest), "user %q after %s", user, after)
		}
	}
}

// limit <= 0 means DefaultLimit; a larger limit is capped at MaxLimit.
func TestReadAfterLimits(t *testing.T) {
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			l := openLog(t, eventlog.Options{TailSize: mode.size})
			batch := make([]eventlog.Input, eventlog.MaxLimit+50)
			for i := range batch {
				batch[i] = eventlog.Input{User: "u", Data: jsonN(`%d`, i)}
			}
			ids, err := l.AppendBatch(context.Background(), batch)
			require.NoError(t, err)
			for _, tc := range []struct{ limit, want int }{
				{0, eventlog.DefaultLimit},
				{-5, eventlog.DefaultLimit},
				{1, 1},
				{eventlog.MaxLimit + 1, eventlog.MaxLimit},
			} {
				p, err := l.ReadAfter("u", eventlog.ZeroID, tc.limit)
				require.NoError(t, err)
				require.Len(t, p.Events, tc.want, "limit %d", tc.limit)
				assert.Equal(t, ids[:tc.want], idsOf(p.Events))
				assert.Equal(t, ids[len(ids)-1], p.Last)
			}
		})
	}
}
