package eventlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// TestCountsKeptCurrent: the counters /metrics reads match a full count
// of the file after appends, batches, idempotent repeats, retention and a
// reopen, and reading them opens no transaction.
//
// Appends count only in the journal; the mover moves their counts into
// the file's meta counts. So it runs with the mover filing at once, and
// with the mover held off, the whole log then sitting in the journal at
// the reopen.
func TestCountsKeptCurrent(t *testing.T) {
	for _, moveDelay := range []time.Duration{time.Millisecond, time.Hour} {
		t.Run(fmt.Sprintf("move-delay=%v", moveDelay), func(t *testing.T) { countsKeptCurrent(t, moveDelay) })
	}
}

func countsKeptCurrent(t *testing.T, moveDelay time.Duration) {
	path := filepath.Join(t.TempDir(), "c.db")
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	opts := Options{MaxEvents: 7, BroadcastMaxEvents: 5, MaxAge: time.Hour, BroadcastMaxAge: time.Hour, Now: now, MoveDelay: moveDelay}
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
	want.Deleted = 0                                                               // since Open
	want.StoredUser, want.StoredBroadcast, want.Repeats, want.Commits = 0, 0, 0, 0 // since Open too
	require.Equal(t, want, got, "seeded from the file at open")
	check("reopen")
}

// TestOpenConvertsCountsThatIncludedTheJournal: a file from before
// keyCountsFiled counted journal entries in its meta counts and kept the
// newest id in keyLast. Open converts it once: the counts, retention's
// view of them and the newest id come out as a full count says.
func TestOpenConvertsCountsThatIncludedTheJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	opts := Options{MoveDelay: time.Hour} // everything stays in the journal
	l, err := Open(path, opts)
	require.NoError(t, err)
	ctx := context.Background()
	var last ID
	for i := range 10 {
		last, err = l.Append(ctx, Input{User: []string{"a", "b", ""}[i%3], Data: []byte(`1`)})
		require.NoError(t, err)
	}
	want, err := l.Stats()
	require.NoError(t, err)
	require.NoError(t, l.Close())

	// Write what the older version wrote: journal entries counted in
	// meta, the newest id in keyLast, no marker.
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		for user, n := range map[string]uint64{"a": 4, "b": 3, "": 3} {
			k := metaKey(metaCount, user)
			require.Zero(t, getUint(meta, k), "nothing filed yet for %q", user)
			require.NoError(t, putUint(meta, k, n))
		}
		require.NoError(t, meta.Put(keyLast, last[:]))
		return meta.Delete(keyCountsFiled)
	}))
	require.NoError(t, db.Close())

	for round := range 2 { // the conversion happens once
		l, err = Open(path, opts)
		require.NoError(t, err)
		got, err := l.Stats()
		require.NoError(t, err)
		require.Equal(t, [4]uint64{uint64(want.Users), want.Events, want.Broadcasts, 0}, [4]uint64{uint64(got.Users), got.Events, got.Broadcasts, 0}, "round %d", round)
		require.Equal(t, last, got.Newest)
		c := l.Counts()
		require.Equal(t, int64(2), c.Users)
		require.Equal(t, uint64(10), c.Events)
		require.NoError(t, l.Close())
	}
}

// TestNewestIDInTheJournalAfterReopen: appends leave keyLast to the
// mover, so after a restart with events only in the journal, the newest
// of them is still the newest id: a valid resume point (not unknown),
// and the next id comes after it.
func TestNewestIDInTheJournalAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	opts := Options{MoveDelay: time.Hour, TailSize: -1}
	l, err := Open(path, opts)
	require.NoError(t, err)
	ctx := context.Background()
	first, err := l.Append(ctx, Input{User: "a", Data: []byte(`1`)})
	require.NoError(t, err)
	last, err := l.Append(ctx, Input{User: "a", Data: []byte(`2`)})
	require.NoError(t, err)
	require.NoError(t, l.Close())

	l, err = Open(path, opts)
	require.NoError(t, err)
	defer l.Close()
	st, err := l.Stats()
	require.NoError(t, err)
	require.Equal(t, last, st.Newest)
	p, err := l.ReadAfter("a", first, 10)
	require.NoError(t, err)
	require.False(t, p.Unknown, "an id in the journal is known")
	require.Len(t, p.Events, 1)
	require.Equal(t, last, p.Events[0].ID)
	p, err = l.ReadAfter("a", last, 10)
	require.NoError(t, err)
	require.False(t, p.Unknown, "the newest id is known")
	require.Empty(t, p.Events)
	next, err := l.Append(ctx, Input{User: "a", Data: []byte(`3`)})
	require.NoError(t, err)
	require.Positive(t, next.Compare(last))
}
