package eventlog

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// Reads, stats and gaps must not change when the mover files journal
// entries into their buckets: an event is in exactly one of the two.
func TestJournalMoveIsInvisible(t *testing.T) {
	// MoveDelay keeps entries in the journal until drained by hand.
	l, err := Open(filepath.Join(t.TempDir(), "j.db"), Options{TailSize: -1, MoveDelay: time.Hour})
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	users := []string{"a", "b", "", "c"}
	var ids []ID
	append1 := func(n int) {
		for i := range n {
			id, err := l.Append(ctx, Input{User: users[i%len(users)], Name: "n", Data: fmt.Appendf(nil, "%d", i)})
			require.NoError(t, err)
			ids = append(ids, id)
		}
	}
	snapshot := func() (map[string][]string, Stats) {
		reads := map[string][]string{}
		for _, u := range append(users, "nobody") {
			for _, after := range append([]ID{ZeroID}, ids...) {
				p, err := l.ReadAfter(u, after, 7)
				require.NoError(t, err)
				k := u + "/" + after.String()
				for _, e := range p.Events {
					reads[k] = append(reads[k], e.ID.String()+":"+e.User+":"+string(e.Data))
				}
			}
		}
		s, err := l.Stats()
		require.NoError(t, err)
		s.FileBytes = 0
		return reads, s
	}

	append1(20) // some filed...
	require.NoError(t, l.drainJournal(ctx))
	require.Zero(t, l.journalLen(t))
	append1(13) // ...and some still in the journal
	require.Equal(t, 13, l.journalLen(t))

	before, statsBefore := snapshot()
	require.Equal(t, 3, statsBefore.Users)
	require.EqualValues(t, 33, statsBefore.Events)
	require.Equal(t, ids[0], statsBefore.Oldest)

	require.NoError(t, l.drainJournal(ctx))
	require.Zero(t, l.journalLen(t))
	after, statsAfter := snapshot()
	require.Equal(t, before, after)
	require.Equal(t, statsBefore, statsAfter)
}

// A user whose events all wait in the journal is counted, and its oldest
// id is reported in a gap.
func TestJournalOnlyUser(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "j.db"), Options{TailSize: -1, MoveDelay: time.Hour})
	require.NoError(t, err)
	defer l.Close()
	id, err := l.Append(context.Background(), Input{User: "x", Data: []byte(`1`)})
	require.NoError(t, err)
	s, err := l.Stats()
	require.NoError(t, err)
	require.Equal(t, 1, s.Users)
	require.Equal(t, id, s.Oldest)
	err = l.db.View(func(tx *bolt.Tx) error {
		o, err := oldestFor("x", nil, tx.Bucket(bucketBroadcast), tx.Bucket(bucketJournal))
		require.Equal(t, id, o)
		return err
	})
	require.NoError(t, err)
}

func (l *Log) journalLen(t *testing.T) int {
	n := 0
	require.NoError(t, l.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketJournal).Stats().KeyN
		return nil
	}))
	return n
}
