package eventlog_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
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

// Readers follow users the way the stream layer does — take Changed, read
// after the cursor, wait if nothing was new — while appenders run. A
// missed wake-up would leave a reader waiting for the bounded timeout;
// every reader must end with exactly its stream, in order.
func TestChangedNeverMissesACommit(t *testing.T) {
	const users, appenders, each, readersPerUser = 5, 8, 40, 6
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			l := openLog(t, eventlog.Options{TailSize: mode.size})
			ctx := context.Background()
			userOf := func(a, k int) string {
				if k%7 == 0 {
					return ""
				}
				return fmt.Sprintf("u%d", (a+k)%users)
			}
			want := map[string]int{}
			for a := range appenders {
				for k := range each {
					if u := userOf(a, k); u == "" {
						for i := range users {
							want[fmt.Sprintf("u%d", i)]++
						}
						want[""]++
					} else {
						want[u]++
					}
				}
			}
			var wg sync.WaitGroup
			got := make(map[string][][]eventlog.ID)
			var mu sync.Mutex
			for i := range users + 1 {
				user := ""
				if i < users {
					user = fmt.Sprintf("u%d", i)
				}
				for range readersPerUser {
					wg.Go(func() {
						ids := follow(t, l, user, want[user])
						mu.Lock()
						got[user] = append(got[user], ids)
						mu.Unlock()
					})
				}
			}
			for a := range appenders {
				wg.Go(func() {
					for k := range each {
						_, err := l.Append(ctx, eventlog.Input{User: userOf(a, k), Data: jsonN(`%d`, k)})
						assert.NoError(t, err)
					}
				})
			}
			wg.Wait()
			for user, lists := range got {
				all, _ := readAll(t, l, user, eventlog.ZeroID, 1000)
				for _, ids := range lists {
					require.Equal(t, idsOf(all), ids, "reader of %q", user)
				}
			}
		})
	}
}

// follow reads user's stream until it has n events, waiting on Changed
// (taken before each read) for both the user and broadcast.
func follow(t *testing.T, l *eventlog.Log, user string, n int) []eventlog.ID {
	var ids []eventlog.ID
	var cursor eventlog.ID
	for len(ids) < n {
		mine, all := l.Changed(user), l.Changed("")
		p, err := l.ReadAfter(user, cursor, 7)
		if !assert.NoError(t, err) {
			return ids
		}
		for _, e := range p.Events {
			ids = append(ids, e.ID)
			cursor = e.ID
		}
		if len(p.Events) > 0 {
			continue
		}
		select {
		case <-mine:
		case <-all:
		case <-time.After(20 * time.Second):
			t.Errorf("reader of %q missed a wake-up at %d of %d events", user, len(ids), n)
			return ids
		}
	}
	if !slices.IsSortedFunc(ids, eventlog.ID.Compare) {
		t.Errorf("reader of %q got events out of order", user)
	}
	return ids
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
