package e2e

// The embedded cluster with real processes: three sselog binaries, each
// running nats-server in its own process (--cluster-*), on one R3 stream.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
)

// embeddedNode is one node of an embedded cluster: its fixed HTTP and
// route addresses and its data directory, kept across restarts.
type embeddedNode struct {
	addr, listen, data string
	peers              []string
	args               []string
	s                  *server
}

// newEmbeddedCluster lays out n nodes on free loopback ports; nothing is
// started yet.
func newEmbeddedCluster(t *testing.T, n int, args ...string) []*embeddedNode {
	t.Helper()
	nodes := make([]*embeddedNode, n)
	for i := range nodes {
		nodes[i] = &embeddedNode{
			addr:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			data:   filepath.Join(t.TempDir(), "sselog.db"),
			args:   args,
		}
	}
	for i, nd := range nodes {
		for j, o := range nodes {
			if j != i {
				nd.peers = append(nd.peers, o.listen)
			}
		}
	}
	return nodes
}

// launch starts the node's binary without waiting for it.
func (nd *embeddedNode) launch(t *testing.T) *server {
	t.Helper()
	args := append([]string{"--addr", nd.addr, "--cluster-name", "e2e", "--cluster-listen", nd.listen,
		"--cluster-peers", strings.Join(nd.peers, ","), "--nats-replicas", "3"}, nd.args...)
	nd.s = launchServer(t, sselogBinary(t), nd.data, nil, nil, args...)
	return nd.s
}

// start launches the node and waits until it answers /healthz: it may
// wait for its peers first.
func (nd *embeddedNode) start(t *testing.T) *server {
	t.Helper()
	nd.launch(t)
	nd.s.waitStarted(2 * time.Minute)
	nd.s.waitHealthy()
	return nd.s
}

// startEmbeddedCluster launches every node together and waits for each.
func startEmbeddedCluster(t *testing.T, nodes []*embeddedNode) {
	t.Helper()
	for _, nd := range nodes {
		nd.launch(t)
	}
	for _, nd := range nodes {
		nd.s.waitStarted(2 * time.Minute)
		nd.s.waitHealthy()
	}
}

// TestEmbeddedClusterRollingRestart: three embedded nodes, a keyed
// publisher on each and subscribers on two. Each node in turn is stopped
// with SIGTERM (exit 0) and restarted on its data directory while its
// subscribers resume on the next node; then one is SIGKILLed mid-publish
// and restarted. Every acknowledged event is stored once and every
// subscriber received exactly its user's events, in order.
func TestEmbeddedClusterRollingRestart(t *testing.T) {
	// The shutdown timeout is above the store's 10 s publish timeout, so
	// a publish waiting on a cluster still settling after a start is
	// stored or refused (not answered 503 at the shutdown's end, which
	// the publishers here would count as a refusal).
	nodes := newEmbeddedCluster(t, 3, "--retention", "0", "--max-events", "0", "--retry", "20ms", "--shutdown-timeout", "15s")
	startEmbeddedCluster(t, nodes)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	users := []string{"alice", "bob.b@x"}
	var pubs []*publisher
	for i, nd := range nodes {
		c, err := client.New("http://" + nd.addr)
		require.NoError(t, err)
		p := newPublisher(fmt.Sprintf("k%d", i), c, []string{users[i%2], "", users[(i+1)%2]}, true)
		p.pause = 5 * time.Millisecond
		pubs = append(pubs, p)
		go p.run(ctx)
	}
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	var fs []*follower
	on := map[*follower]int{}
	for i, u := range users {
		for j := range 2 {
			f := newFollower("http://"+nodes[j].addr, u, eventlog.ZeroID.String(), (i+j)%2 == 0)
			on[f] = j
			fs = append(fs, f)
			go f.run(fctx)
		}
	}
	waitAcked(t, pubs, 30)
	for i, nd := range nodes {
		next := (i + 1) % len(nodes)
		for _, f := range fs {
			if on[f] == i {
				f.setURL("http://" + nodes[next].addr)
				on[f] = next
			}
		}
		nd.s.Stop() // SIGTERM: exit 0; its streams end and resume on the next node
		waitAcked(t, pubs, 30)
		nd.start(t)
		waitAcked(t, pubs, 30)
	}
	// A node dies mid-publish and comes back on its data.
	for _, f := range fs {
		if on[f] == 2 {
			f.setURL("http://" + nodes[0].addr)
			on[f] = 0
		}
	}
	nodes[2].s.Kill()
	waitAcked(t, pubs, 30)
	nodes[2].start(t)
	waitAcked(t, pubs, 30)
	stopAll(t, pubs)

	c, err := client.New("http://" + nodes[1].addr)
	require.NoError(t, err)
	markers := publishMarkers(t, ctx, c, "end", users)
	ends := markers.ackedFor(users)
	for _, f := range fs {
		own := ends[f.user]
		f.waitFor(t, own[len(own)-1], 90*time.Second)
	}
	stopFollowers(t, fcancel, fs)

	checkExactlyOnce(t, "http://"+nodes[0].addr, users, append(slices.Clone(pubs), markers), fs)
	for _, p := range pubs {
		assert.Empty(t, p.refused, "publisher %s: refusals", p.name)
	}
	for _, nd := range nodes {
		nd.s.Stop()
	}
}

// runRefused runs `sselog serve` with args and returns what it printed
// and how long it ran; the test fails unless it exits non-zero within
// limit.
func runRefused(t *testing.T, limit time.Duration, args ...string) (string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, sselogBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = cleanEnv()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	require.Error(t, err, "started:\n%s", out)
	require.NoError(t, ctx.Err(), "still running after %s:\n%s", limit, out)
	return string(out), took
}

// lastLine is the last line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestEmbeddedClusterConfigRefused: an embedded cluster that cannot work
// as configured is refused at start, at once, with one line saying why:
// not a wait of the start timeout ending in a timeout.
func TestEmbeddedClusterConfigRefused(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	free := func() string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		// JetStream's cluster mode needs routes: a lone node never starts.
		{"no peers", []string{"--cluster-name", "c", "--cluster-listen", free()}, "--cluster-peers"},
		// Three replicas on two nodes: no placement, ever.
		{"replicas above the nodes", []string{"--cluster-name", "c", "--cluster-listen", free(),
			"--cluster-peers", free(), "--nats-replicas", "3"}, "--nats-replicas 3"},
		// Port 0: the peers cannot know it, and the node's name changes.
		{"random route port", []string{"--cluster-name", "c", "--cluster-listen", "127.0.0.1:0",
			"--cluster-peers", free()}, "--cluster-listen"},
		// The route port is someone else's.
		{"route port taken", []string{"--cluster-name", "c", "--cluster-listen", taken.Addr().String(),
			"--cluster-peers", free()}, "address already in use"},
		// --cluster-data means nothing without --cluster-name.
		{"cluster data with external NATS", []string{"--nats", "nats://127.0.0.1:1", "--cluster-data", t.TempDir()}, "--cluster-data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data", filepath.Join(t.TempDir(), "sselog.db"), "--nats-start-timeout", "1m"}, tc.args...)
			out, took := runRefused(t, 20*time.Second, args...)
			assert.Less(t, took, 10*time.Second, "refused only after %s:\n%s", took, out)
			line := lastLine(out)
			assert.True(t, strings.HasPrefix(line, "sselog: "), "ends with the reason:\n%s", out)
			assert.Contains(t, line, tc.says, "%s", out)
		})
	}
}

// TestEmbeddedClusterSharedDataRefused: two nodes on one machine with the
// same --data would run two JetStream servers on one store directory,
// both writing the stream's files. The second is refused.
func TestEmbeddedClusterSharedDataRefused(t *testing.T) {
	nodes := newEmbeddedCluster(t, 3)
	first := nodes[0].launch(t)
	testkit.WaitFor(t, 30*time.Second, "the first node's nats-server", func() bool {
		return strings.Contains(first.Logs(), "embedded nats-server started")
	})
	second := nodes[1]
	out, took := runRefused(t, 20*time.Second, "--data", nodes[0].data, "--cluster-name", "e2e",
		"--cluster-listen", second.listen, "--cluster-peers", strings.Join(second.peers, ","), "--nats-replicas", "3")
	assert.Less(t, took, 10*time.Second, "refused only after %s:\n%s", took, out)
	line := lastLine(out)
	assert.True(t, strings.HasPrefix(line, "sselog: "), "ends with the reason:\n%s", out)
	assert.Contains(t, line, "in use", "%s", out)
	select {
	case <-first.Exited():
		t.Fatalf("the first node exited: %v\n%s", first.err, first.Logs())
	default:
	}
}

// TestEmbeddedNodeWaitingForPeers: a node started alone waits for its
// peers. Meanwhile its HTTP port must not take connections it leaves
// unanswered (a balancer would send requests there that hang until the
// cluster forms, or until the node gives up): a request is refused, or
// answered, at once. Once the peers start, every node serves.
func TestEmbeddedNodeWaitingForPeers(t *testing.T) {
	nodes := newEmbeddedCluster(t, 3)
	first := nodes[0].launch(t)
	testkit.WaitFor(t, 30*time.Second, "the first node's nats-server", func() bool {
		return strings.Contains(first.Logs(), "embedded nats-server started")
	})
	hc := &http.Client{Timeout: 3 * time.Second}
	for range 3 {
		resp, err := hc.Get("http://" + nodes[0].addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a node without its store is not healthy")
			continue
		}
		require.ErrorIs(t, err, syscall.ECONNREFUSED, "a request to a node waiting for its peers")
	}
	nodes[1].launch(t)
	nodes[2].launch(t)
	for _, nd := range nodes {
		nd.s.waitStarted(2 * time.Minute)
		nd.s.waitHealthy()
	}
}

// TestEmbeddedNodeStoppedWhileWaiting: SIGTERM to a node still waiting
// for its peers is a stop, not a failure: exit 0, at once.
func TestEmbeddedNodeStoppedWhileWaiting(t *testing.T) {
	nodes := newEmbeddedCluster(t, 3)
	s := nodes[0].launch(t)
	testkit.WaitFor(t, 30*time.Second, "the node's nats-server", func() bool {
		return strings.Contains(s.Logs(), "embedded nats-server started")
	})
	s.Stop()
}
