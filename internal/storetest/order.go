package storetest

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

// ack is one acknowledged append and when it ran on a global counter:
// start before Append was called, end after it returned.
type ack struct {
	id         eventlog.ID
	user, name string
	data       []byte
	appender   int
	start, end int64
}

// appendConcurrently runs appenders goroutines of perAppender appends
// each, over users user-000… and broadcast (about one in twenty).
func appendConcurrently(t *testing.T, s Store, appenders, perAppender, users int) []ack {
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
				in := eventlog.Input{User: user, Name: fmt.Sprintf("n%d", k%3), Data: fmt.Appendf(nil, `{"a":%d,"k":%d}`, a, k)}
				start := seq.Add(1)
				id, err := s.Append(context.Background(), in)
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

// Invariants 1-3: concurrent appends get distinct ids in commit order,
// and every user reads exactly its events and the broadcasts, merged in id
// order, after any resume point.
func testOrderConcurrentAppenders(t *testing.T, open Opener) {
	ConcurrentAppends(t, open(t, Options{}), 32, 20, 25)
}

// ConcurrentAppends is that check at a chosen scale: appenders goroutines
// of perAppender appends each over users users and the broadcasts. A store
// runs it larger in its own tests.
func ConcurrentAppends(t *testing.T, s Store, appenders, perAppender, users int) {
	acks := appendConcurrently(t, s, appenders, perAppender, users)
	require.Len(t, acks, appenders*perAppender)
	checkPerAppender(t, acks)
	checkHappensBefore(t, acks)
	checkStats(t, s, acks)
	for u := range users {
		checkUserReads(t, s, fmt.Sprintf("user-%03d", u), acks)
	}
	checkUserReads(t, s, "", acks)
}

// checkPerAppender: each appender's ids increase; no id is issued twice.
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

// checkHappensBefore: an append acknowledged before another started has
// the smaller id (commit order is id order).
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

func checkStats(t *testing.T, s Store, acks []ack) {
	st, err := s.Stats()
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
	assert.Equal(t, uint64(len(acks)), st.Events)
	assert.Equal(t, broadcasts, st.Broadcasts)
	assert.Equal(t, len(users), st.Users)
	assert.Equal(t, minID, st.Oldest)
	assert.Equal(t, maxID, st.Newest)
	waitLast(t, s, maxID)
}

// checkUserReads: user's reads from the start are its events and the
// broadcasts merged in id order with their content; read after any of
// its ids, exactly the rest.
func checkUserReads(t *testing.T, s Store, user string, acks []ack) {
	var want []ack
	for _, a := range acks {
		if a.user == user || a.user == "" {
			want = append(want, a)
		}
	}
	slices.SortFunc(want, func(a, b ack) int { return a.id.Compare(b.id) })
	got, gap := ReadAll(t, s, user, eventlog.ZeroID, 37)
	require.Nil(t, gap)
	require.Len(t, got, len(want), "user %q", user)
	for i, e := range got {
		w := want[i]
		require.Equal(t, w.id, e.ID, "user %q event %d", user, i)
		require.Equal(t, w.user, e.User)
		require.Equal(t, w.name, e.Name)
		require.JSONEq(t, string(w.data), string(e.Data))
	}
	wantIDs := IDs(got)
	for i, after := range wantIDs {
		rest, gap := ReadAll(t, s, user, after, 50)
		require.Nil(t, gap)
		if !slices.Equal(wantIDs[i+1:], IDs(rest)) {
			require.Equal(t, wantIDs[i+1:], IDs(rest), "user %q after %s", user, after)
		}
	}
}
