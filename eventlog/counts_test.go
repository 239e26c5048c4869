package eventlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCountsKeptCurrent: the counters /metrics reads match a full count
// of the file after appends, batches, idempotent repeats, retention and a
// reopen, and reading them opens no transaction.
func TestCountsKeptCurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	opts := Options{MaxEvents: 7, BroadcastMaxEvents: 5, MaxAge: time.Hour, BroadcastMaxAge: time.Hour, Now: now, MoveDelay: time.Millisecond}
	l, err := Open(path, opts)
	require.NoError(t, err)
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(3, 4))
	users := []string{"", "a", "b", "c", "d", "e"}
	check := func(step string) {
		t.Helper()
		st, err := l.Stats()
		require.NoError(t, err)
		c := l.Counts()
		require.Equal(t, int64(st.Users), c.Users, "users after %s", step)
		require.Equal(t, st.Events, c.Events, "events after %s", step)
		require.Equal(t, st.Broadcasts, c.Broadcasts, "broadcasts after %s", step)
		require.Equal(t, st.Deleted, c.Deleted, "deleted after %s", step)
		require.Positive(t, c.FileBytes)
	}
	for round := range 12 {
		for range 1 + rnd.IntN(15) {
			in := Input{User: users[rnd.IntN(len(users))], Data: []byte(`1`)}
			if rnd.IntN(4) == 0 {
				in.IdempotencyKey = fmt.Sprintf("%s-k%d", in.User, rnd.IntN(5)) // a key names one request
			}
			_, err := l.Append(ctx, in)
			require.NoError(t, err)
		}
		batch := []Input{{User: "f", Data: []byte(`2`)}, {Data: []byte(`3`)}, {User: "a", Data: []byte(`4`)}}
		_, err := l.AppendBatch(ctx, batch)
		require.NoError(t, err)
		check(fmt.Sprintf("round %d appends", round))
		if round%3 == 2 {
			clock = clock.Add(2 * time.Hour) // everything expires by age
		}
		_, err = l.Compact(ctx)
		require.NoError(t, err)
		check(fmt.Sprintf("round %d retention", round))
	}
	before := l.db.Stats().TxN
	for range 100 {
		_ = l.Counts()
	}
	require.Equal(t, before, l.db.Stats().TxN, "Counts opens no transaction")
	want := l.Counts()
	require.NoError(t, l.Close())

	l, err = Open(path, opts)
	require.NoError(t, err)
	defer l.Close()
	got := l.Counts()
	got.FileBytes, want.FileBytes = 0, 0
	want.Deleted = 0                                              // since Open
	want.StoredUser, want.StoredBroadcast, want.Repeats = 0, 0, 0 // since Open too
	require.Equal(t, want, got, "seeded from the file at open")
	check("reopen")
}
