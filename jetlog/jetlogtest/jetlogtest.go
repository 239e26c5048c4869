// Package jetlogtest is the test kit for code built on jetlog: it starts
// real NATS servers in-process (one, or a JetStream cluster on loopback
// ports) with their stores in the test's temporary directory, and opens
// a real jetlog.Log on them. Tests only.
package jetlogtest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/jetlog"
)

// RunServer starts one JetStream-enabled nats-server on a free loopback
// port, stopped at cleanup.
func RunServer(tb testing.TB) *server.Server {
	tb.Helper()
	s, err := server.NewServer(&server.Options{
		ServerName: "solo",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   tb.TempDir(),
		NoLog:      true,
		NoSigs:     true,
	})
	require.NoError(tb, err)
	start(tb, s)
	return s
}

func start(tb testing.TB, s *server.Server) {
	tb.Helper()
	go s.Start()
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	require.True(tb, s.ReadyForConnections(20*time.Second), "nats-server %s did not start", s.Name())
}

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Cluster is a JetStream cluster of in-process servers.
type Cluster struct {
	tb      testing.TB
	Servers []*server.Server
	opts    []*server.Options
}

// RunCluster starts n servers forming one JetStream cluster on loopback
// ports and waits until it has a meta leader.
func RunCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb}
	ports := make([]int, n)
	var routes []string
	for i := range ports {
		ports[i] = FreePort(tb)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   tb.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name: "sselog-test",
				Host: "127.0.0.1",
				Port: ports[i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		}
		c.opts = append(c.opts, o)
		s, err := server.NewServer(o)
		require.NoError(tb, err)
		start(tb, s)
		c.Servers = append(c.Servers, s)
	}
	c.WaitReady()
	return c
}

// WaitReady waits until every running server sees a JetStream meta
// leader, and the leader counts every running server as a peer it can
// place a stream on. A leader is elected before the others' statistics
// reach it; until they do, creating an R3 stream fails with "no
// suitable peers for placement" (which flaked TestClusterAcrossNodes).
func (c *Cluster) WaitReady() {
	c.tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c.ready() {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling the server's own state; bounded above
	}
	c.tb.Fatalf("jetstream cluster not ready within 30s")
}

func (c *Cluster) ready() bool {
	running := 0
	for _, s := range c.Servers {
		if !s.Running() {
			continue
		}
		running++
		if !s.JetStreamIsCurrent() {
			return false
		}
	}
	for _, s := range c.Servers {
		if s.Running() && s.JetStreamIsLeader() {
			return len(s.JetStreamClusterPeers()) >= running
		}
	}
	return false
}

// URLs is the client URL list of the running servers.
func (c *Cluster) URLs() string {
	var out []string
	for _, s := range c.Servers {
		if s.Running() {
			out = append(out, s.ClientURL())
		}
	}
	return strings.Join(out, ",")
}

// Stop shuts server i down (its store stays for Restart).
func (c *Cluster) Stop(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

// Restart starts server i again on its store and ports.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	require.NoError(c.tb, err)
	start(c.tb, s)
	c.Servers[i] = s
}

// Connect opens a client connection to urls that keeps reconnecting,
// closed at cleanup.
func Connect(tb testing.TB, urls string) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(tb, err)
	tb.Cleanup(nc.Close)
	return nc
}

var streamN atomic.Int64

// Open opens a log on a fresh stream (a unique name unless opts.Stream is
// set) through a new connection to urls; closed at cleanup.
func Open(tb testing.TB, urls string, opts jetlog.Options) *jetlog.Log {
	tb.Helper()
	if opts.Stream == "" {
		opts.Stream = fmt.Sprintf("T%d", streamN.Add(1))
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	nc := Connect(tb, urls)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := jetlog.Open(ctx, nc, opts)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

// URL is a server's client URL, for logs.
func URL(s *server.Server) string {
	u, _ := url.Parse(s.ClientURL())
	return u.String()
}
