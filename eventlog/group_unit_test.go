package eventlog

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// queued is a request of n events for user u, as submit queues it.
func queued(n int) *request {
	ins := make([]Input, n)
	for i := range ins {
		ins[i] = Input{User: "u", Data: fmt.Appendf(nil, "%d", i)}
	}
	r := &request{ctx: context.Background(), events: ins, ids: make([]ID, n), done: make(chan struct{})}
	r.self[0] = r
	return r
}

// commitQueued queues reqs as submit would and has the writer commit
// them, bounded: a mutation that strands a request fails, not hangs.
func commitQueued(t *testing.T, l *Log, reqs ...*request) {
	t.Helper()
	l.wmu.Lock()
	l.pending = append(l.pending, reqs...)
	l.wmu.Unlock()
	finished := make(chan struct{})
	go func() { l.commitPending(false); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("commitPending did not finish")
	}
}

// The writer commits queued requests in arrival order, in groups of at
// most MaxGroup events (a request larger than that alone), and remembers
// how many requests its last group held.
func TestCommitPendingGroupsUpToMaxGroup(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "g.db"), Options{MaxGroup: 4, MoveDelay: 1 << 40})
	require.NoError(t, err)
	defer l.Close()
	cases := []struct {
		name    string
		sizes   []int
		commits uint64
		last    int // requests in the last group
	}{
		{"exactly MaxGroup", []int{1, 1, 1, 1}, 1, 4},
		{"one past MaxGroup", []int{1, 1, 1, 1, 1}, 2, 1},
		{"a request larger than MaxGroup", []int{5}, 1, 1},
		{"a large request after a small one", []int{1, 5, 2, 2}, 3, 2},
	}
	var prev ID
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var reqs []*request
			for _, n := range c.sizes {
				reqs = append(reqs, queued(n))
			}
			before := l.commits.Load()
			commitQueued(t, l, reqs...)
			for i, r := range reqs {
				select {
				case <-r.done:
				default:
					t.Fatalf("request %d not committed", i)
				}
				require.NoError(t, r.err)
				for _, id := range r.ids {
					require.Positive(t, id.Compare(prev), "ids follow arrival order")
					prev = id
				}
			}
			assert.Equal(t, c.commits, l.commits.Load()-before)
			assert.Equal(t, c.last, l.lastGroup)
		})
	}
}

// One request failing inside a shared transaction (a reused idempotency
// key) fails alone: its neighbours in the group are committed.
func TestGroupFailureFailsOnlyItsRequest(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "g.db"), Options{MoveDelay: 1 << 40})
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	_, err = l.Append(ctx, Input{User: "u", Data: []byte(`1`), IdempotencyKey: "k"})
	require.NoError(t, err)
	good, reused := queued(1), queued(1)
	reused.events[0] = Input{User: "u", Data: []byte(`2`), IdempotencyKey: "k"}
	commitQueued(t, l, good, reused)
	require.NoError(t, good.err)
	require.ErrorIs(t, reused.err, ErrIdempotencyKeyReused)
	p, err := l.ReadAfter("u", ZeroID, 10)
	require.NoError(t, err)
	assert.Len(t, p.Events, 2, "the first append and the good neighbour")
}

// journaled counts the entries committed and not yet filed, which is what
// lets the mover start early once moveMin have gathered.
func TestJournaledCountsUnfiledEntries(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "g.db"), Options{MoveDelay: 1 << 40})
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	_, err = l.AppendBatch(ctx, []Input{{User: "u", Data: []byte(`1`)}, {User: "v", Data: []byte(`2`)}, {Data: []byte(`3`)}})
	require.NoError(t, err)
	_, err = l.Append(ctx, Input{User: "u", Data: []byte(`4`)})
	require.NoError(t, err)
	assert.Equal(t, int64(4), l.journaled.Load())
	require.NoError(t, l.drainJournal(ctx))
	assert.Zero(t, l.journaled.Load())
}

// A journal holding moveMin entries is filed after one MoveDelay, not
// after the trickle's moveWait × MoveDelay.
func TestMoverFilesAFullJournalEarly(t *testing.T) {
	const delay = 2 * time.Second // a trickle would wait moveWait × delay = 20 s
	l, err := Open(filepath.Join(t.TempDir(), "m.db"), Options{MoveDelay: delay})
	require.NoError(t, err)
	defer l.Close()
	batch := make([]Input, moveMin)
	for i := range batch {
		batch[i] = Input{User: fmt.Sprint("u", i%10), Data: []byte(`1`)}
	}
	_, err = l.AppendBatch(context.Background(), batch)
	require.NoError(t, err)
	testkit.WaitFor(t, moveWait*delay/2, "a full journal to be filed early", func() bool { return l.journalLen(t) == 0 })
}

// Entries a previous run left in the journal are filed without driving
// journaled below zero, so later appends are counted in full.
func TestJournaledNeverBelowZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	ctx := context.Background()
	l, err := Open(path, Options{MoveDelay: 1 << 40})
	require.NoError(t, err)
	_, err = l.AppendBatch(ctx, []Input{{User: "u", Data: []byte(`1`)}, {User: "u", Data: []byte(`2`)}, {User: "u", Data: []byte(`3`)}})
	require.NoError(t, err)
	require.NoError(t, l.Close())

	l, err = Open(path, Options{MoveDelay: 1 << 40})
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, 3, l.journalLen(t), "the previous run's entries wait in the journal")
	require.NoError(t, l.drainJournal(ctx))
	_, err = l.AppendBatch(ctx, []Input{{User: "u", Data: []byte(`4`)}, {User: "u", Data: []byte(`5`)}})
	require.NoError(t, err)
	assert.Equal(t, int64(2), l.journaled.Load())
}

// drainJournal empties the journal however many move batches it takes.
func TestDrainJournalEmptiesPastOneBatch(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "g.db"), Options{MoveDelay: 1 << 40})
	require.NoError(t, err)
	defer l.Close()
	batch := make([]Input, moveBatch+1)
	for i := range batch {
		batch[i] = Input{User: fmt.Sprint("u", i%3), Data: []byte(`1`)}
	}
	_, err = l.AppendBatch(context.Background(), batch)
	require.NoError(t, err)
	require.NoError(t, l.drainJournal(context.Background()))
	assert.Zero(t, l.journalLen(t))
}

// Entries still in the journal count against a user's cap: retention
// between a move and the next keeps exactly MaxEvents, deleting filed
// events to make room for the journal's.
func TestTrimCountsJournalEntries(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "g.db"), Options{MaxEvents: 3, MoveDelay: 1 << 40})
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	var ids []ID
	for i := range 5 {
		if i == 3 {
			require.NoError(t, l.drainJournal(ctx)) // three filed, two in the journal
		}
		id, err := l.Append(ctx, Input{User: "u", Data: fmt.Appendf(nil, "%d", i)})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	over, err := l.overLimit()
	require.NoError(t, err)
	require.Equal(t, []string{"u"}, over)
	n, more, err := l.trim("u")
	require.NoError(t, err)
	assert.False(t, more)
	assert.Equal(t, 2, n)
	p, err := l.ReadAfter("u", ZeroID, 10)
	require.NoError(t, err)
	assert.Equal(t, ids[2:], pageIDs(p.Events))
}

// While another commit runs (an appender committing alone) the writer
// leaves the queue to it: two commits at once could hand their events
// to the tail out of id order. The one running kicks the writer after.
func TestCommitPendingWaitsForTheRunningCommit(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "g.db"), Options{MoveDelay: 1 << 40})
	require.NoError(t, err)
	defer l.Close()
	r := queued(1)
	l.wmu.Lock()
	l.leading = true
	l.pending = append(l.pending, r)
	l.wmu.Unlock()
	l.commitPending(false)
	select {
	case <-r.done:
		t.Fatal("committed while another commit was running")
	default:
	}
	l.wmu.Lock()
	l.leading = false
	l.wmu.Unlock()
	l.commitPending(false)
	select {
	case <-r.done:
	default:
		t.Fatal("not committed once the running commit ended")
	}
	require.NoError(t, r.err)
}
