package jetlog_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/storetest"
	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/jetlog"
	"github.com/sselog/sselog/jetlog/jetlogtest"
)

const clusterWait = 60 * time.Second

// twoNodes opens the same R3 stream through two sselog "nodes", each
// connected to a different server of a three-server cluster.
func twoNodes(t *testing.T, c *jetlogtest.Cluster, opts jetlog.Options) (a, b *jetlog.Log) {
	t.Helper()
	opts.Stream, opts.Replicas = "SSELOG", 3
	a = jetlogtest.Open(t, c.Servers[0].ClientURL()+","+c.URLs(), opts)
	b = jetlogtest.Open(t, c.Servers[1].ClientURL()+","+c.URLs(), opts)
	return a, b
}

// Across nodes: ids acknowledged by one node are read, in order and
// exactly after any resume point, on another, at once; an idempotency key
// retried on another node stores once; a batch is atomic across users.
func TestClusterAcrossNodes(t *testing.T) {
	c := jetlogtest.RunCluster(t, 3)
	a, b := twoNodes(t, c, jetlog.Options{})
	ctx := context.Background()
	var want []eventlog.ID
	for i := range 30 {
		user := "u.1@x"
		if i%4 == 0 {
			user = ""
		}
		node := a
		if i%3 == 0 {
			node = b
		}
		id, err := node.Append(ctx, eventlog.Input{User: user, Data: fmt.Appendf(nil, `%d`, i)})
		require.NoError(t, err)
		// Published through one node, resumed from at once on the other:
		// never "unknown", whichever node's follower is behind.
		other := a
		if node == a {
			other = b
		}
		p, err := other.ReadAfter("u.1@x", id, 10)
		require.NoError(t, err)
		require.LessOrEqual(t, id.Compare(p.Last), 0, "an id another node acknowledged is known here")
		want = append(want, id)
	}
	for _, n := range []*jetlog.Log{a, b} {
		got, gap := storetest.ReadAll(t, n, "u.1@x", eventlog.ZeroID, 7)
		require.Nil(t, gap)
		require.Equal(t, want, storetest.IDs(got))
		for i, after := range want {
			rest, _ := storetest.ReadAll(t, n, "u.1@x", after, 5)
			require.Equal(t, want[i+1:], storetest.IDs(rest))
		}
	}

	in := eventlog.Input{User: "k", Data: []byte(`1`), IdempotencyKey: "retry-me"}
	id1, err := a.Append(ctx, in)
	require.NoError(t, err)
	id2, err := b.Append(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, id1, id2, "a key retried on another node stores once")
	_, err = b.Append(ctx, eventlog.Input{User: "k", Data: []byte(`2`), IdempotencyKey: "retry-me"})
	require.ErrorIs(t, err, eventlog.ErrIdempotencyKeyReused, "the key with another request, on another node")
	got, _ := storetest.ReadAll(t, b, "k", eventlog.ZeroID, 10)
	require.Contains(t, storetest.IDs(got), id2, "the node that answered the retry reads it at once")

	batch := []eventlog.Input{{User: "x", Data: []byte(`1`)}, {User: "y", Data: []byte(`2`)}}
	ids, err := a.AppendKeyedBatch(ctx, "bk", batch)
	require.NoError(t, err)
	again, err := b.AppendKeyedBatch(ctx, "bk", batch)
	require.NoError(t, err)
	assert.Equal(t, ids, again)
	_, err = b.AppendKeyedBatch(ctx, "bk", batch[1:])
	require.ErrorIs(t, err, eventlog.ErrIdempotencyKeyReused, "the batch key with another batch, on another node")
	_, err = b.AppendBatch(ctx, []eventlog.Input{{User: "x", Data: []byte(`1`)}, {User: "y", Data: []byte(`{bad`)}})
	require.ErrorIs(t, err, eventlog.ErrInvalidEvent)
	got, _ = storetest.ReadAll(t, b, "x", eventlog.ZeroID, 10)
	assert.Equal(t, []eventlog.ID{ids[0]}, storetest.IDs(got)[len(got)-1:], "the node that answered the retried batch reads it at once")
}

// One server of three going down (the stream's leader) while nodes
// publish: every acknowledged id is in the stream exactly once, in
// order, and a live reader on the other node got all of them.
func TestClusterLosesOneServer(t *testing.T) {
	c := jetlogtest.RunCluster(t, 3)
	a, b := twoNodes(t, c, jetlog.Options{Timeout: 5 * time.Second})
	leader := -1
	testkit.WaitFor(t, clusterWait, "a stream leader", func() bool {
		for i, s := range c.Servers {
			if s.JetStreamIsStreamLeader("$G", "SSELOG") {
				leader = i
				return true
			}
		}
		return false
	})

	var acked sync.Map
	var n atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			node := a
			if p%2 == 1 {
				node = b
			}
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				id, err := node.Append(context.Background(), eventlog.Input{User: "u", Data: fmt.Appendf(nil, `{"p":%d,"k":%d}`, p, k)})
				if err != nil {
					continue // unavailable while a new leader is elected: not acknowledged
				}
				acked.Store(id, true)
				n.Add(1)
			}
		})
	}
	testkit.WaitFor(t, clusterWait, "some acks", func() bool { return n.Load() > 50 })
	c.Stop(leader)
	before := n.Load()
	testkit.WaitFor(t, clusterWait, "acks after the leader went down", func() bool { return n.Load() > before+50 })
	close(stop)
	wg.Wait()

	last := eventlog.ZeroID
	acked.Range(func(k, _ any) bool {
		if id := k.(eventlog.ID); id.Compare(last) > 0 {
			last = id
		}
		return true
	})
	for _, node := range []*jetlog.Log{a, b} {
		testkit.WaitFor(t, clusterWait, "the follower to see the last ack", func() bool { return node.Last().Compare(last) >= 0 })
		got, gap := storetest.ReadAll(t, node, "u", eventlog.ZeroID, 500)
		require.Nil(t, gap)
		seen := map[eventlog.ID]bool{}
		for _, e := range got {
			require.False(t, seen[e.ID], "%s stored twice", e.ID)
			seen[e.ID] = true
		}
		missing := 0
		acked.Range(func(k, _ any) bool {
			if !seen[k.(eventlog.ID)] {
				missing++
			}
			return true
		})
		require.Zero(t, missing, "acknowledged events missing from the stream")
	}
	t.Logf("%d acks, %d after the leader (server %d) stopped", n.Load(), n.Load()-before, leader)
}

// Without a quorum, appends fail (the API answers 503) and store
// nothing, Healthy says so, and a waiting reader is woken once the quorum
// is back and events flow again.
func TestClusterQuorumLoss(t *testing.T) {
	c := jetlogtest.RunCluster(t, 3)
	a, _ := twoNodes(t, c, jetlog.Options{Timeout: 2 * time.Second})
	ctx := context.Background()
	first, err := a.Append(ctx, eventlog.Input{User: "u", Data: []byte(`1`)})
	require.NoError(t, err)
	require.NoError(t, a.Healthy(ctx))

	c.Stop(1)
	c.Stop(2)
	_, err = a.Append(ctx, eventlog.Input{User: "u", Data: []byte(`2`)})
	require.Error(t, err)
	assert.False(t, errors.Is(err, eventlog.ErrInvalidEvent), "a store failure, not the client's: %v", err)
	// The leader notices within a few seconds that its replicas are gone.
	testkit.WaitFor(t, clusterWait, "Healthy to report the lost quorum", func() bool { return a.Healthy(ctx) != nil })

	wake := a.Changed("u")
	c.Restart(1)
	var id eventlog.ID
	testkit.WaitFor(t, clusterWait, "appends to work again", func() bool {
		// A timed-out try may still be stored: retry under one key.
		id, err = a.Append(ctx, eventlog.Input{User: "u", Data: []byte(`3`), IdempotencyKey: "after-outage"})
		return err == nil
	})
	select {
	case <-wake:
	case <-time.After(clusterWait):
		t.Fatal("a reader waiting through the outage was not woken")
	}
	// Healthy reuses an answer for a second: the one from the outage may
	// still be served just after the quorum came back.
	testkit.WaitFor(t, clusterWait, "Healthy to report the quorum back", func() bool { return a.Healthy(ctx) == nil })
	// The node's follower catches up after the outage (reads wait for it
	// only briefly).
	testkit.WaitFor(t, clusterWait, "the follower to see the last append", func() bool { return a.Last().Compare(id) >= 0 })
	got, _ := storetest.ReadAll(t, a, "u", eventlog.ZeroID, 10)
	ids := storetest.IDs(got)
	require.Equal(t, first, ids[0])
	require.Equal(t, id, ids[len(ids)-1])
	assert.LessOrEqual(t, len(ids), 3, "the failed append may have been stored once at most")
}
