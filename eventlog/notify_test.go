package eventlog

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNotifierFreesUnwatched: users who asked for a wake channel once and
// never again (subscribers that left) do not keep an entry: within two
// sweep periods the registry holds only users still asking, a reader
// still holding an old channel is woken (spuriously) and asks again, and
// a commit still wakes whoever waits.
func TestNotifierFreesUnwatched(t *testing.T) {
	var mu sync.Mutex
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	l, err := Open(filepath.Join(t.TempDir(), "n.db"), Options{Now: now})
	require.NoError(t, err)
	defer l.Close()

	for i := range 1000 {
		_ = l.Changed(fmt.Sprintf("gone-%d", i))
	}
	held := l.Changed("idle") // a reader that waits a long time
	require.Equal(t, 1001, l.notify.entries())

	for range 2 {
		advance(notifySweep + time.Second)
		_ = l.Changed("alive") // someone keeps asking
	}
	assert.LessOrEqual(t, l.notify.entries(), 2, "entries nobody asks for are freed")
	select {
	case <-held:
	default:
		t.Fatal("a reader holding a freed channel must be woken to ask again")
	}

	c := l.Changed("alive")
	_, err = l.Append(context.Background(), Input{User: "alive", Data: []byte(`1`)})
	require.NoError(t, err)
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatal("a commit did not wake its waiter")
	}
}
