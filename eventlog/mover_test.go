package eventlog

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// TestMoverLetsATrickleGather: a few appends are not moved one
// MoveDelay after they land (each move is an fsync'd commit appends queue
// behind) but within moveWait × MoveDelay; a journal of moveMin entries
// is moved after one MoveDelay.
func TestMoverLetsATrickleGather(t *testing.T) {
	const delay = 50 * time.Millisecond
	l, err := Open(filepath.Join(t.TempDir(), "m.db"), Options{MoveDelay: delay})
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()

	_, err = l.Append(ctx, Input{User: "u", Data: []byte(`1`)})
	require.NoError(t, err)
	// Under load the mover only runs later, never sooner.
	require.Never(t, func() bool { return l.journalLen(t) == 0 }, 3*delay, delay/5, "a single entry waits longer than MoveDelay")
	testkit.WaitFor(t, 30*time.Second, "the trickle to be moved", func() bool { return l.journalLen(t) == 0 })

	batch := make([]Input, moveMin)
	for i := range batch {
		batch[i] = Input{User: fmt.Sprint("u", i%10), Data: []byte(`1`)}
	}
	_, err = l.AppendBatch(ctx, batch)
	require.NoError(t, err)
	testkit.WaitFor(t, 30*time.Second, "a full journal to be moved", func() bool { return l.journalLen(t) == 0 })
}

// TestMoveAllocations bounds what filing one journal entry allocates. A
// move runs under bbolt's writer lock, so publishes queue behind its
// allocations and the collections they bring on.
func TestMoveAllocations(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "m.db"), Options{MoveDelay: time.Hour})
	require.NoError(t, err)
	defer l.Close()
	batch := make([]Input, moveBatch)
	for i := range batch {
		batch[i] = Input{User: fmt.Sprint("u", i%100), Data: []byte(`{"n":1}`)}
	}
	for round := range 2 { // the first round creates the users' buckets
		_, err = l.AppendBatch(context.Background(), batch)
		require.NoError(t, err)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		n, err := l.moveOnce()
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		require.Equal(t, moveBatch, n)
		perEntry := float64(after.Mallocs-before.Mallocs) / float64(n)
		t.Logf("round %d: %.1f allocations per moved entry", round, perEntry)
		if round == 1 {
			require.LessOrEqual(t, perEntry, 7.5, "8.9 when each delete made a cursor of its own")
		}
	}
}
