package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
)

// TestFaultBackupRestore: `sselog backup` runs against server A under
// publish and subscribe load; the file is restored into a second binary,
// B. Every event acknowledged before the backup started is on B, and B's
// log is a prefix of A's, user by user (a consistent snapshot: events
// after the backup point may be missing, never a hole before it).
// Subscribers move from A to B: one whose Last-Event-ID is newer than
// anything B holds is told so with a gap event (unknown-last-event-id)
// and gets the live tail; one resuming from an id B holds gets exactly
// B's events after it, then the live tail.
func TestFaultBackupRestore(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--retention", "0", "--max-events", "0", "--retry", "20ms"}
	aPath, bPath := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	a := startServer(t, aPath, args...)
	ca, err := client.New(a.URL)
	require.NoError(t, err)
	users := []string{"alice", "bob"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	var moved []*follower // subscribers of A that move to B
	for _, u := range users {
		for _, viaQuery := range []bool{true, false} {
			f := newFollower(a.URL, u, eventlog.ZeroID.String(), viaQuery)
			go f.run(fctx)
			moved = append(moved, f)
		}
	}
	pubs := []*publisher{
		newPublisher("k", ca, []string{"alice", "", "bob"}, true),
		newPublisher("u", ca, []string{"bob", "alice"}, false),
		newPublisher("v", ca, []string{"alice"}, false),
	}
	for _, p := range pubs {
		go p.run(ctx)
	}

	waitAcked(t, pubs, 300)
	var pre []string // acknowledged before the backup started
	for _, p := range pubs {
		pre = append(pre, p.ackedIDs()...)
	}
	backup := filepath.Join(dir, "backup.db")
	bctx, bcancel := context.WithTimeout(ctx, 60*time.Second)
	out, err := exec.CommandContext(bctx, sselogBinary(t), "backup", "--url", a.URL, "-o", backup, "--quiet").CombinedOutput()
	bcancel()
	require.NoError(t, err, "sselog backup: %s", out)
	t.Logf("%s", out)
	waitAcked(t, pubs, 200) // the load goes on past the backup point
	stopAll(t, pubs)
	markers := publishMarkers(t, ctx, ca, "endA", users)
	pubs = append(pubs, markers)
	waitMarkers(t, markers, users, moved)

	// Restore into B while A still runs, then move A's subscribers over.
	checkBolt(t, backup)
	snapshot, err := os.ReadFile(backup) // restore is a plain file copy
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bPath, snapshot, 0o600))
	b := startServer(t, bPath, args...)
	cb, err := client.New(b.URL)
	require.NoError(t, err)
	for _, f := range moved {
		f.setURL(b.URL)
	}
	a.Stop() // ends A's streams cleanly: they reconnect, to B
	ixA := indexLog(t, aPath, users)
	require.Zero(t, checkPublishers(t, ixA, pubs), "A was stopped cleanly: every attempt was acked")

	restored := map[string][]string{}
	for _, u := range users {
		onA := eventIDs(ixA.byUser[u])
		onB := historyIDs(t, cb, u)
		restored[u] = onB
		require.LessOrEqual(t, len(onB), len(onA))
		require.Equal(t, onA[:len(onB)], onB, "%s's log on B is a prefix of A's", u)
		t.Logf("%s: %d events on A, %d restored on B (%d after the backup point lost)", u, len(onA), len(onB), len(onA)-len(onB))
		require.Less(t, len(onB), len(onA), "the load after the backup reached %s", u)
	}
	for _, id := range pre {
		assert.True(t, slices.Contains(restored["alice"], id) || slices.Contains(restored["bob"], id),
			"%s was acknowledged before the backup started and is not on B", id)
	}

	// Moved subscribers hold ids B never issued: each is told once.
	for _, f := range moved {
		waitGaps(t, f, 1, 30*time.Second)
	}
	var behind []*follower // resume from an id B holds
	for _, u := range users {
		from := restored[u][len(restored[u])/2]
		q := newFollower(b.URL, u, from, true)
		go q.run(fctx)
		behind = append(behind, q, tailFollower(fctx, b.URL, u, from))
	}
	onBPubs := newPublisher("b", cb, []string{"alice", "", "bob"}, true)
	go onBPubs.run(ctx)
	waitAcked(t, []*publisher{onBPubs}, 30)
	onBPubs.Stop(t)
	endB := publishMarkers(t, ctx, cb, "endB", users)
	waitMarkers(t, endB, users, append(moved, behind...))
	stopFollowers(t, fcancel, append(moved, behind...))
	b.Stop()

	ixB := indexLog(t, bPath, users)
	for _, p := range []*publisher{onBPubs, endB} {
		for _, id := range p.ackedIDs() {
			assert.True(t, slices.ContainsFunc(append(ixB.byUser["alice"], ixB.byUser["bob"]...),
				func(e eventlog.Event) bool { return e.ID.String() == id }), "%s acked by B is in B's file", id)
		}
	}
	for _, f := range moved {
		got, gaps, _ := f.received()
		onA := eventIDs(ixA.byUser[f.user])
		onB := eventIDs(ixB.byUser[f.user])
		newOnB := onB[len(restored[f.user]):]
		assert.Equal(t, append(slices.Clone(onA), newOnB...), got,
			"moved follower of %s (query=%v): A's sequence, then B's live tail", f.user, f.viaQuery)
		require.Len(t, gaps, 1)
		assert.Equal(t, gapData{Reason: "unknown-last-event-id", LastEventID: onA[len(onA)-1], OldestID: onB[0]}, gaps[0])
	}
	for i, f := range behind {
		got, gaps, _ := f.received()
		from := restored[f.user][len(restored[f.user])/2]
		onB := eventIDs(ixB.byUser[f.user])
		assert.Empty(t, gaps, "follower %d", i)
		assert.Equal(t, onB[indexAfter(onB, from):], got, "follower of %s resuming on B from %s (query=%v)", f.user, from, f.viaQuery)
	}
}

// waitGaps waits until f has been told of n gaps.
func waitGaps(t *testing.T, f *follower, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if _, gaps, _ := f.received(); len(gaps) >= n {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("follower of %s got no gap event within %s", f.user, timeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
