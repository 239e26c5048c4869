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

// The tail cache must answer exactly as the file does, whatever the resume
// point: across evictions, and after retention deleted events.
func TestTailMatchesFile(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{TailSize: 64, MaxEvents: 40, BroadcastMaxEvents: 30})
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	users := []string{"a", "b", "c", ""}
	var ids []ID
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		for range 1 + rnd.IntN(30) {
			u := users[rnd.IntN(len(users))]
			id, err := l.Append(ctx, Input{User: u, Name: "n", Data: fmt.Appendf(nil, "%d", round)})
			require.NoError(t, err)
			ids = append(ids, id)
		}
		if round%5 == 4 {
			_, err := l.Compact(ctx)
			require.NoError(t, err)
		}
		for _, u := range users {
			for _, after := range append([]ID{ZeroID}, ids...) {
				limit := 1 + rnd.IntN(50)
				got, err := l.ReadAfter(u, after, limit)
				require.NoError(t, err)
				want, err := l.readFile(u, after, limit)
				require.NoError(t, err)
				require.Equal(t, ids4(want.Events), ids4(got.Events), "user %q after %s", u, after)
				require.Equal(t, want.Gap != nil, got.Gap != nil, "gap for user %q after %s", u, after)
				for i := range got.Events {
					require.Equal(t, want.Events[i].User, got.Events[i].User)
					require.Equal(t, want.Events[i].Data, got.Events[i].Data)
				}
			}
		}
	}
}

func ids4(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID.String()
	}
	return out
}

// A deletion retention committed is never seen in the file while the tail
// still serves the deleted events: a reader that saw the file shrink (Stats,
// as the conformance suite waits on) must then be told of the gap, not
// handed the deleted events from memory. This is how
// TestConformance/tail/GapAfterCountCap flaked under load.
func TestTailRaisedBeforeDeletionIsVisible(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{MaxEvents: 2})
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	var ids []ID
	for i := range 6 {
		id, err := l.Append(ctx, Input{User: "u", Data: fmt.Appendf(nil, "%d", i)})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	require.NoError(t, l.drainJournal(ctx))

	// Hold the tail while retention deletes: the file must not show the
	// deletion until the tail has been raised.
	l.tail.mu.Lock()
	done := make(chan error, 1)
	go func() { _, _, err := l.trim("u"); done <- err }()
	visible := func() bool {
		st, err := l.Stats()
		require.NoError(t, err)
		return st.Events == 2
	}
	// A bounded look: before the fix the deletion shows at once.
	for range 50 {
		if visible() {
			l.tail.mu.Unlock()
			t.Fatal("the file shows the deletion while the tail still holds the deleted events")
		}
		select {
		case err := <-done:
			l.tail.mu.Unlock()
			t.Fatalf("trim ended while the tail was held: %v", err)
		case <-time.After(2 * time.Millisecond):
		}
	}
	l.tail.mu.Unlock()
	require.NoError(t, <-done)
	require.True(t, visible())
	p, err := l.ReadAfter("u", ids[0], 10)
	require.NoError(t, err)
	require.NotNil(t, p.Gap)
	require.Equal(t, ids[4:], pageIDs(p.Events))
}

func pageIDs(evs []Event) []ID {
	out := make([]ID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}
