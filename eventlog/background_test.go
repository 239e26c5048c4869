package eventlog_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
)

func countKeys(t *testing.T, path, bucket string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	n := 0
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket([]byte(bucket)).Stats().KeyN
		return nil
	}))
	return n
}

// A journal entry the mover cannot file (damaged on disk) stopped the
// mover, and with it retention and key expiry, for good. Now the mover
// sets it aside and goes on, and retention and key expiry each keep their
// own schedule; the failure is counted.
func TestBackgroundWorkGoesOnPastADamagedJournalEntry(t *testing.T) {
	clk := newClock(t0, 0)
	path := filepath.Join(t.TempDir(), "sselog.db")
	l := openAt(t, path, eventlog.Options{Now: clk.Now})
	ctx := context.Background()
	for i := range 5 {
		_, err := l.Append(ctx, eventlog.Input{User: "u", Data: jsonN(`%d`, i), IdempotencyKey: string(jsonN("k%d", i))})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	bad := idAt(t0.Add(-time.Minute))
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("journal")).Put(bad[:], []byte{0x7f, 'x'}) // a user name longer than the entry
	}))
	require.NoError(t, db.Close())

	clk.Add(2 * time.Hour)
	l = openAt(t, path, eventlog.Options{Now: clk.Now, MaxAge: time.Hour, IdempotencyWindow: time.Hour,
		CompactInterval: 5 * time.Millisecond, KeyExpiryInterval: 5 * time.Millisecond, MoveDelay: time.Millisecond})
	fresh, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`"fresh"`)})
	require.NoError(t, err)
	testkit.WaitFor(t, 10*time.Second, "retention and key expiry", func() bool {
		s := stats(t, l)
		// Deleted is counted just after the commit that deletes.
		return s.Events == 1 && s.Deleted == 5 && s.KeysExpired == 5
	})
	s := stats(t, l)
	assert.Equal(t, uint64(1), s.DamagedRecords, "the damaged entry is counted")
	evs, gap := readAll(t, l, "u", eventlog.ZeroID, 10)
	assert.Nil(t, gap)
	assert.Equal(t, []eventlog.ID{fresh}, idsOf(evs))
	require.NoError(t, l.Close())
	assert.Zero(t, countKeys(t, path, "journal"), "the journal drained")
	assert.Zero(t, countKeys(t, path, "idem"), "every key expired")
}

// --compact-interval 0 turns retention off in the background; idempotency
// keys still expire on their own schedule.
func TestKeyExpiryWithoutCompaction(t *testing.T) {
	clk := newClock(t0, 0)
	l := openLog(t, eventlog.Options{Now: clk.Now, IdempotencyWindow: time.Hour, KeyExpiryInterval: 5 * time.Millisecond})
	_, err := l.Append(context.Background(), eventlog.Input{User: "u", Data: []byte(`1`), IdempotencyKey: "k"})
	require.NoError(t, err)
	clk.Add(2 * time.Hour)
	testkit.WaitFor(t, 10*time.Second, "key expiry", func() bool { return stats(t, l).KeysExpired == 1 })
	assert.Equal(t, uint64(1), stats(t, l).Events, "no retention ran")
}

// stuckJournal makes a file whose journal holds an entry the mover cannot
// file (its user's name is taken by a plain key, so no bucket can be made
// for it), after three keyed events of another user filed at t0.
func stuckJournal(t *testing.T, clk *clock) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sselog.db")
	l, err := eventlog.Open(path, eventlog.Options{Now: clk.Now, MoveDelay: time.Hour})
	require.NoError(t, err)
	ctx := context.Background()
	for i := range 3 {
		_, err := l.Append(ctx, eventlog.Input{User: "v", Data: jsonN(`%d`, i), IdempotencyKey: string(jsonN("k%d", i))})
		require.NoError(t, err)
	}
	_, err = l.Compact(ctx) // files v's events
	require.NoError(t, err)
	_, err = l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`"stuck in the journal"`)})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("users")).Put([]byte("u"), []byte("not a bucket"))
	}))
	require.NoError(t, db.Close())
	t.Cleanup(func() { // put the file right for the kit's check at cleanup
		db, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("users")).Delete([]byte("u")) }))
		require.NoError(t, db.Close())
	})
	return path
}

// A move that keeps failing is logged, counted and retried, and does not
// stop retention or key expiry.
func TestRetentionGoesOnWhileTheMoverFails(t *testing.T) {
	clk := newClock(t0, 0)
	path := stuckJournal(t, clk)
	clk.Add(2 * time.Hour)
	l, err := eventlog.Open(path, eventlog.Options{Now: clk.Now, MaxAge: time.Hour, IdempotencyWindow: time.Hour,
		CompactInterval: 5 * time.Millisecond, KeyExpiryInterval: 5 * time.Millisecond, MoveDelay: time.Millisecond})
	require.NoError(t, err)
	defer l.Close()
	testkit.WaitFor(t, 10*time.Second, "retention and key expiry despite the mover", func() bool {
		s := stats(t, l)
		return s.Deleted == 3 && s.KeysExpired == 3 && s.MoveErrors > 0
	})
}

// The mover tries again on its own schedule after a failure, without a
// new append or a retention pass to wake it.
func TestMoverRetriesOnItsOwn(t *testing.T) {
	clk := newClock(t0, 0)
	path := stuckJournal(t, clk)
	l, err := eventlog.Open(path, eventlog.Options{Now: clk.Now, MoveDelay: time.Millisecond})
	require.NoError(t, err)
	defer l.Close()
	testkit.WaitFor(t, 20*time.Second, "a second attempt", func() bool { return stats(t, l).MoveErrors >= 2 })
}
