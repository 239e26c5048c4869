package eventlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

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
