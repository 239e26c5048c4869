package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/jetlog/jetlogtest"
)

func TestNATSConfig(t *testing.T) {
	c, err := parseServeConfig(nil, testkit.Env("SSELOG_NATS=nats://a:4222,nats://b:4222"), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "nats://a:4222,nats://b:4222", c.NATS.URLs)
	assert.Equal(t, "SSELOG", c.NATS.Stream, "the documented default")
	assert.Equal(t, 1, c.NATS.Replicas)
	assert.True(t, c.NATS.enabled())
	assert.False(t, parseDefault(t).NATS.enabled(), "bbolt stays the default")

	c, err = parseServeConfig([]string{"--nats-replicas", "3", "--nats-stream", "EV"}, testkit.Env("SSELOG_NATS=nats://a:4222", "SSELOG_NATS_REPLICAS=5"), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 3, c.NATS.Replicas, "the flag wins")
	assert.Equal(t, "EV", c.NATS.Stream)

	// A cluster of two nodes takes two replicas.
	_, err = parseServeConfig([]string{"--cluster-name", "c", "--cluster-listen", "127.0.0.1:6222", "--cluster-peers", "127.0.0.1:6223", "--nats-replicas", "2"}, testkit.Env(), &bytes.Buffer{})
	require.NoError(t, err)

	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--nats", "nats://a:4222", "--nats-replicas", "0"}, "--nats-replicas"},
		{[]string{"--nats", "nats://a:4222", "--nats-replicas", "7"}, "--nats-replicas"},
		{[]string{"--nats", "nats://a:4222", "--nats-stream", "a.b"}, "--nats-stream"},
		{[]string{"--nats", "nats://a:4222", "--nats-tls-cert", "c.pem"}, "--nats-tls-key"},
		{[]string{"--nats", "nats://a:4222", "--cluster-name", "c", "--cluster-listen", "127.0.0.1:6222"}, "exclude each other"},
		{[]string{"--cluster-name", "c"}, "--cluster-listen"},
		{[]string{"--cluster-name", "c", "--cluster-listen", "127.0.0.1:6222", "--cluster-peers", "nohost"}, "--cluster-peers"},
		{[]string{"--cluster-peers", "127.0.0.1:6223"}, "need --cluster-name"},
		// Each bound at its edge.
		{[]string{"--nats", "nats://a:4222", "--nats-replicas", "6"}, "--nats-replicas"},
		{[]string{"--nats", "nats://a:4222", "--nats-start-timeout", "0s"}, "--nats-start-timeout"},
		{[]string{"--nats", "nats://a:4222", "--nats-stream", "a b"}, "--nats-stream"},
		{[]string{"--nats", "nats://a:4222", "--nats-tls-key", "k.pem"}, "--nats-tls-key"},
		{[]string{"--cluster-name", "c", "--cluster-listen", "127.0.0.1:0", "--cluster-peers", "127.0.0.1:6223"}, "fixed port"},
		{[]string{"--cluster-name", "c", "--cluster-listen", "127.0.0.1:6222", "--cluster-peers", " , "}, "--cluster-peers is empty"},
		{[]string{"--cluster-name", "c", "--cluster-listen", "127.0.0.1:6222", "--cluster-peers", "127.0.0.1:6223", "--nats-replicas", "3"}, "2 nodes"},
	} {
		_, err := parseServeConfig(tc.args, testkit.Env(), &bytes.Buffer{})
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error(), tc.says, "%v", tc.args)
	}
}

// node is one `sselog serve` run in-process.
type node struct {
	url    string
	stderr *testkit.SyncBuffer
	done   chan error
	stop   context.CancelFunc
}

func startNode(t *testing.T, args ...string) *node {
	t.Helper()
	n := launchNode(t, args...)
	n.waitReady(t)
	return n
}

// launchNode runs serve without waiting for it.
func launchNode(t *testing.T, args ...string) *node {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", jetlogtest.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{url: "http://" + addr, stderr: &testkit.SyncBuffer{}, done: make(chan error, 1), stop: cancel}
	args = append([]string{"serve", "--addr", addr, "--data", filepath.Join(t.TempDir(), "sselog.db")}, args...)
	go func() { n.done <- Run(ctx, args, testkit.Env(), io.Discard, n.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-n.done:
			assert.NoError(t, err, "serve: %s", n.stderr)
		case <-time.After(60 * time.Second):
			t.Errorf("serve did not stop")
		}
	})
	return n
}

// waitReady waits until the node answers /healthz with 200.
func (n *node) waitReady(t *testing.T) {
	t.Helper()
	testkit.WaitFor(t, 2*time.Minute, "the node to answer /healthz: "+n.url, func() bool {
		select {
		case err := <-n.done:
			n.done <- err
			t.Fatalf("serve ended: %v\n%s", err, n.stderr)
		default:
		}
		r, err := http.Get(n.url + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})
}

func (n *node) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	r, err := http.Get(n.url + path)
	require.NoError(t, err)
	defer r.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(r.Body).Decode(&m))
	return r.StatusCode, m
}

func (n *node) publish(t *testing.T, user, body string) string {
	t.Helper()
	r, err := http.Post(n.url+"/v1/users/"+user+"/events", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer r.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(r.Body).Decode(&m))
	require.Equal(t, http.StatusCreated, r.StatusCode, "%v", m)
	return m["id"].(string)
}

// history returns the ids of user's events from the oldest.
func (n *node) history(t *testing.T, user string) []string {
	t.Helper()
	status, m := n.get(t, "/v1/users/"+user+"/events?limit=1000")
	require.Equal(t, http.StatusOK, status, "%v", m)
	var ids []string
	for _, e := range m["events"].([]any) {
		ids = append(ids, e.(map[string]any)["id"].(string))
	}
	return ids
}

// `sselog serve --nats URL` keeps the log in JetStream: it creates the
// stream, says so once, and two nodes on the same stream serve the same
// events.
func TestServeOnNATS(t *testing.T) {
	ns := jetlogtest.RunServer(t)
	a := startNode(t, "--nats", ns.ClientURL(), "--max-events", "100", "--retention", "1h")
	b := startNode(t, "--nats", ns.ClientURL())
	assert.Contains(t, a.stderr.String(), "jetstream log open")
	assert.Contains(t, a.stderr.String(), "action=created")
	assert.Contains(t, b.stderr.String(), "action=updated")
	assert.Contains(t, a.stderr.String(), "store=jetstream")
	status, h := a.get(t, "/healthz?details=1") // the store is a detail
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "jetstream", h["store"])

	id1 := a.publish(t, "u.1", `{"data":1}`)
	id2 := b.publish(t, "u.1", `{"data":2}`)
	testkit.WaitFor(t, 30*time.Second, "both nodes to hold both events", func() bool {
		return len(a.history(t, "u.1")) == 2 && len(b.history(t, "u.1")) == 2
	})
	assert.Equal(t, []string{id1, id2}, b.history(t, "u.1"))

	status, m := a.get(t, "/v1/admin/backup")
	assert.Equal(t, http.StatusNotImplemented, status)
	assert.Contains(t, m["error"], "nats stream backup")
}

// Three copies of the binary with --cluster-* form a replicated cluster
// with nothing else to run: an event published on one node is read on the
// others.
func TestServeEmbeddedCluster(t *testing.T) {
	ports := []int{jetlogtest.FreePort(t), jetlogtest.FreePort(t), jetlogtest.FreePort(t)}
	listen := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	nodes := make([]*node, 3)
	for i := range nodes {
		var peers []string
		for j := range 3 {
			if j != i {
				peers = append(peers, listen(j))
			}
		}
		// Nodes start together: each waits for the JetStream quorum.
		nodes[i] = launchNode(t, "--cluster-name", "test", "--cluster-listen", listen(i),
			"--cluster-peers", strings.Join(peers, ","), "--nats-replicas", "3")
	}
	for _, n := range nodes {
		n.waitReady(t)
	}
	assert.Contains(t, nodes[0].stderr.String(), "embedded nats-server started")
	id := nodes[0].publish(t, "a@b", `{"data":"x"}`)
	for _, n := range nodes {
		testkit.WaitFor(t, 30*time.Second, "every node to serve the event", func() bool {
			h := n.history(t, "a@b")
			return len(h) == 1 && h[0] == id
		})
	}
}

// TestShutdownAnswersWhatTheStoreHolds: a publish waiting on JetStream
// (its quorum lost: the ack would come only at the store's 10 s timeout)
// when SIGTERM comes is answered 503 before --shutdown-timeout runs out,
// and the shutdown is clean. It was abandoned: the connection closed with
// no answer, and serve failed with "requests still running" (exit 1).
func TestShutdownAnswersWhatTheStoreHolds(t *testing.T) {
	c := jetlogtest.RunCluster(t, 3)
	n := launchNode(t, "--nats", c.URLs(), "--nats-replicas", "3", "--shutdown-timeout", "2s")
	n.waitReady(t)
	n.publish(t, "u", `{"data":1}`)

	c.Stop(1)
	c.Stop(2)
	nc := jetlogtest.Connect(t, c.URLs()) // the one server left
	seen, err := nc.SubscribeSync("SSELOG.>")
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	type answer struct {
		status int
		body   map[string]any
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		r, err := http.Post(n.url+"/v1/users/u/events", "application/json", strings.NewReader(`{"data":2}`))
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer r.Body.Close()
		var m map[string]any
		err = json.NewDecoder(r.Body).Decode(&m)
		answered <- answer{status: r.StatusCode, body: m, err: err}
	}()
	_, err = seen.NextMsg(30 * time.Second) // the publish reached the stream's subject: it waits for the ack
	require.NoError(t, err, "the publish to reach NATS")

	n.stop() // SIGTERM
	var a answer
	select {
	case a = <-answered:
	case <-time.After(30 * time.Second):
		t.Fatal("the publish was not answered")
	}
	require.NoError(t, a.err, "an answer, not a closed connection")
	assert.Equal(t, http.StatusServiceUnavailable, a.status, "%v", a.body)
	select {
	case err := <-n.done:
		assert.NoError(t, err, "a clean shutdown: %s", n.stderr)
		n.done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
