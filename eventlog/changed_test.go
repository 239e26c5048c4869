package eventlog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/storetest"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Append returns after the wake-up, so the channel states can be checked
// right after it without waiting.
func TestChangedClosedByItsOwnCommits(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	a, b, bc := l.Changed("a"), l.Changed("b"), l.Changed("")
	assert.Equal(t, a, l.Changed("a"), "waiters of one user share a channel")

	_, err := l.Append(ctx, eventlog.Input{User: "a", Data: []byte(`1`)})
	require.NoError(t, err)
	assert.True(t, isClosed(a), "a commit for a closes a's channel")
	assert.False(t, isClosed(b), "a commit for a leaves b's open")
	assert.False(t, isClosed(bc), "a commit for a leaves broadcast's open")

	a = l.Changed("a")
	assert.False(t, isClosed(a), "a fresh channel after the wake-up")
	_, err = l.Append(ctx, eventlog.Input{Data: []byte(`1`)})
	require.NoError(t, err)
	assert.True(t, isClosed(bc), "a broadcast closes the broadcast channel")
	assert.False(t, isClosed(a), "a broadcast is announced on \"\" only")
	assert.False(t, isClosed(b))

	_, err = l.AppendBatch(ctx, []eventlog.Input{{User: "b", Data: []byte(`1`)}, {User: "c", Data: []byte(`1`)}})
	require.NoError(t, err)
	assert.True(t, isClosed(b), "a batch wakes every user it touches")
	assert.False(t, isClosed(a))

	bc = l.Changed("")
	require.NoError(t, l.Close())
	for _, ch := range []<-chan struct{}{a, bc, l.Changed("z")} {
		assert.True(t, isClosed(ch), "Close closes every channel")
	}
}

// Readers follow users as the stream layer does while appenders run: the
// conformance suite's check, at a larger scale, tail on and off.
func TestChangedNeverMissesACommit(t *testing.T) {
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			storetest.ChangedNeverMisses(t, openLog(t, eventlog.Options{TailSize: mode.size}), 5, 8, 40, 6)
		})
	}
}

// Many goroutines take channels, append and close at once; run with -race.
func TestChangedRaceWithClose(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-l.Changed(fmt.Sprintf("u%d", g%3)):
				case <-time.After(time.Millisecond):
				}
			}
		})
		wg.Go(func() {
			for i := 0; ; i++ {
				if _, err := l.Append(ctx, eventlog.Input{User: fmt.Sprintf("u%d", i%3), Data: []byte(`1`)}); err != nil {
					assert.ErrorIs(t, err, eventlog.ErrClosed)
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let them overlap; no assertion on time
	require.NoError(t, l.Close())
	for i := range 3 {
		assert.True(t, isClosed(l.Changed(fmt.Sprintf("u%d", i))))
	}
	close(stop)
	wg.Wait()
}
