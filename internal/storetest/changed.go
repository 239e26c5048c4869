package storetest

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

// Readers follow users the way a stream does (take Changed, read after
// the cursor, wait if nothing was new) while appenders run. A missed
// wake-up leaves a reader waiting out its bound; every reader must end
// with exactly its stream, in order.
func testChangedNeverMisses(t *testing.T, open Opener) {
	ChangedNeverMisses(t, open(t, Options{}), 4, 6, 25, 3)
}

// ChangedNeverMisses is that check at a chosen scale. A store runs it
// larger in its own tests.
func ChangedNeverMisses(t *testing.T, s Store, users, appenders, each, readersPerUser int) {
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
				ids := follow(t, s, user, want[user])
				mu.Lock()
				got[user] = append(got[user], ids)
				mu.Unlock()
			})
		}
	}
	for a := range appenders {
		wg.Go(func() {
			for k := range each {
				_, err := s.Append(context.Background(), eventlog.Input{User: userOf(a, k), Data: fmt.Appendf(nil, `%d`, k)})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	for user, lists := range got {
		all, _ := ReadAll(t, s, user, eventlog.ZeroID, 1000)
		for _, ids := range lists {
			require.Equal(t, IDs(all), ids, "reader of %q", user)
		}
	}
}

// follow reads user's stream until it has n events, waiting on Changed
// (taken before each read) for the user and broadcast.
func follow(t *testing.T, s Store, user string, n int) []eventlog.ID {
	var ids []eventlog.ID
	var cursor eventlog.ID
	for len(ids) < n {
		mine, all := s.Changed(user), s.Changed("")
		p, err := s.ReadAfter(user, cursor, 7)
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
		case <-time.After(wait):
			t.Errorf("reader of %q missed a wake-up at %d of %d events", user, len(ids), n)
			return ids
		}
	}
	if !slices.IsSortedFunc(ids, eventlog.ID.Compare) {
		t.Errorf("reader of %q got events out of order", user)
	}
	return ids
}
