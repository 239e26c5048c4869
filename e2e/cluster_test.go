package e2e

// The cluster end to end with real processes: three nats-server binaries
// forming a JetStream cluster, three sselog binaries on one R3 stream,
// and Debian's nginx in front with the shipped deploy/nginx-cluster.conf.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
)

var natsBinary struct {
	once sync.Once
	path string
	err  error
}

// natsServerBinary returns a nats-server binary: $SSELOG_TEST_NATS_SERVER
// (.ci/run builds it), else one built from the module's own dependency.
func natsServerBinary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("SSELOG_TEST_NATS_SERVER"); p != "" {
		return p
	}
	natsBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "sselog-nats-")
		if err != nil {
			natsBinary.err = err
			return
		}
		natsBinary.path = filepath.Join(dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", natsBinary.path, "github.com/nats-io/nats-server/v2")
		if out, err := cmd.CombinedOutput(); err != nil {
			natsBinary.err = fmt.Errorf("go build nats-server: %w\n%s", err, out)
		}
	})
	require.NoError(tb, natsBinary.err)
	return natsBinary.path
}

// proc is a child process killed at cleanup.
type proc struct {
	cmd  *exec.Cmd
	logs *testkit.SyncBuffer
	done chan struct{}
}

func startProc(tb testing.TB, name string, args ...string) *proc {
	tb.Helper()
	p := &proc{cmd: exec.Command(name, args...), logs: &testkit.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	require.NoError(tb, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(p.kill)
	return p
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// startNATSCluster runs three nats-server processes with JetStream in one
// cluster and returns them with their client URLs. Ports are picked free
// and then handed to the servers, so another process can take one in
// between: a start that fails on a taken port is tried again on new ones.
func startNATSCluster(t *testing.T) ([]*proc, []string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		procs, urls, err := tryNATSCluster(t)
		if err == nil {
			return procs, urls
		}
		for _, p := range procs {
			p.kill()
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("nats cluster start %d: a port was taken meanwhile; trying new ones", attempt)
	}
}

func tryNATSCluster(t *testing.T) ([]*proc, []string, error) {
	t.Helper()
	bin := natsServerBinary(t)
	client, route := make([]int, 3), make([]int, 3)
	for i := range 3 {
		client[i], route[i] = freePort(t), freePort(t)
	}
	var procs []*proc
	var urls []string
	for i := range 3 {
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", route[j]))
			}
		}
		procs = append(procs, startProc(t, bin, "-js", "-sd", t.TempDir(), "-a", "127.0.0.1", "-p", fmt.Sprint(client[i]),
			"-n", fmt.Sprintf("nats-%d", i), "--cluster_name", "sselog-e2e",
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", route[i]), "--routes", strings.Join(routes, ",")))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
	}
	for i, u := range urls {
		deadline := time.Now().Add(30 * time.Second)
		routeUp := fmt.Sprintf("Listening for route connections on 127.0.0.1:%d", route[i])
		for {
			// Up once its client port answers with its own INFO (a port
			// another process took answers too, and this server exits)
			// and it listens on its route port too (opened after the
			// client port: a route port taken meanwhile ends it just after
			// the client port answered).
			if natsAnswers(strings.TrimPrefix(u, "nats://"), fmt.Sprintf("nats-%d", i)) && strings.Contains(procs[i].logs.String(), routeUp) {
				break
			}
			select {
			case <-procs[i].done:
				return procs, nil, fmt.Errorf("nats-server %d exited:\n%s", i, procs[i].logs)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return procs, nil, fmt.Errorf("nats-server %s not listening after 30s:\n%s", u, procs[i].logs)
			}
		}
	}
	return procs, urls, nil
}

// natsAnswers reports whether the server at addr is the nats-server
// named name: it sends its INFO, which names it, on connect.
func natsAnswers(addr, name string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "INFO ") && strings.Contains(line, `"server_name":"`+name+`"`)
}

// startClusterNginx runs Debian's nginx with deploy/nginx-cluster.conf, its
// upstream servers replaced by nodes, and returns its base URL.
func startClusterNginx(t *testing.T, nodes []string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nginx is not installed (.ci/run installs it): %v", err)
		}
		t.Skip("nginx is not installed (apt-get install nginx-light)")
	}
	site, err := os.ReadFile("../deploy/nginx-cluster.conf")
	require.NoError(t, err)
	port := freePort(t)
	conf := string(site)
	for i, n := range nodes {
		old := fmt.Sprintf("server 10.0.0.%d:8080", i+1)
		require.Contains(t, conf, old)
		conf = strings.Replace(conf, old, "server "+n, 1)
	}
	require.Contains(t, conf, "listen 80;")
	conf = strings.Replace(conf, "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port), 1)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site.conf"), []byte(conf), 0o600))
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o600))
	p := startProc(t, bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testkit.WaitFor(t, 30*time.Second, "nginx at "+base, func() bool {
		select {
		case <-p.done:
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited:\n%s\n%s", p.logs, errLog)
		default:
		}
		r, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})
	return base
}

// history pages through user's events on base.
func history(t *testing.T, base, user string) []string {
	t.Helper()
	var ids []string
	after := ""
	for {
		u := base + "/v1/users/" + url.PathEscape(user) + "/events?limit=1000"
		if after != "" {
			u += "&after=" + after
		}
		r, err := http.Get(u)
		require.NoError(t, err)
		var page struct {
			Events []struct {
				ID string `json:"id"`
			} `json:"events"`
			Next string `json:"next"`
		}
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.NoError(t, json.NewDecoder(r.Body).Decode(&page))
		r.Body.Close()
		if len(page.Events) == 0 {
			return ids
		}
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		after = page.Next
	}
}

// TestClusterBehindNginx: publishers and subscribers go through nginx to
// three sselog nodes on a three-server JetStream cluster (R3) while the
// test SIGKILLs one sselog node and, separately, one nats-server. Every
// acknowledged id is in the stream exactly once, and every subscriber
// received exactly its user's sequence, in order, across its reconnects.
func TestClusterBehindNginx(t *testing.T) {
	natsProcs, natsURLs := startNATSCluster(t)
	var nodes []*server
	var addrs []string
	for i := range 3 {
		// Each node lists its own nats-server first.
		urls := append([]string{natsURLs[i]}, slices.Delete(slices.Clone(natsURLs), i, i+1)...)
		s := startServer(t, filepath.Join(t.TempDir(), "unused.db"), "--nats", strings.Join(urls, ","),
			"--nats-replicas", "3", "--retention", "0", "--max-events", "0", "--retry", "20ms")
		require.Contains(t, s.Logs(), "jetstream log open")
		nodes = append(nodes, s)
		addrs = append(addrs, s.Addr)
	}
	base := startClusterNginx(t, addrs)
	c, err := client.New(base)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	users := []string{"alice", "bob.b@x", "carol:1"}
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	var fs []*follower
	for i, u := range users {
		f := newFollower(base, u, eventlog.ZeroID.String(), i%2 == 0)
		go f.run(fctx)
		fs = append(fs, f, tailFollower(fctx, base, u, eventlog.ZeroID.String()))
	}
	pubs := []*publisher{
		newPublisher("k1", c, []string{users[0], users[1], ""}, true),
		newPublisher("k2", c, []string{users[2], users[0]}, true),
		newPublisher("k3", c, []string{users[1], "", users[2]}, true),
	}
	for _, p := range pubs {
		go p.run(ctx)
	}

	waitAcked(t, pubs, 60)
	nodes[1].Kill() // an sselog node dies: nginx sends the rest elsewhere
	waitAcked(t, pubs, 60)
	natsProcs[2].kill() // a nats-server dies: R3 keeps its quorum
	waitAcked(t, pubs, 60)
	stopAll(t, pubs)
	markers := publishMarkers(t, ctx, c, "end", users)
	// A node whose nats-server died follows the stream again within
	// seconds; give a loaded machine room.
	ends := markers.ackedFor(users)
	for _, f := range fs {
		own := ends[f.user]
		f.waitFor(t, own[len(own)-1], 90*time.Second)
	}
	stopFollowers(t, fcancel, fs)

	checkExactlyOnce(t, base, users, append(slices.Clone(pubs), markers), fs)
	var failed int
	for _, p := range pubs {
		failed += p.failed
	}
	t.Logf("held %d events per user at most; %d failed publishes retried", len(history(t, base, users[0])), failed)
}

// checkExactlyOnce checks, for each user, that what base holds is every
// event the publishers in all had acknowledged, each once (keyed
// publishers retry until acknowledged: nothing is stored that was not),
// and that each follower of the user received exactly that, in order,
// with no gap.
func checkExactlyOnce(t *testing.T, base string, users []string, all []*publisher, fs []*follower) {
	t.Helper()
	for _, u := range users {
		held := history(t, base, u)
		seen := map[string]bool{}
		for _, id := range held {
			require.False(t, seen[id], "%s: %s stored twice", u, id)
			seen[id] = true
		}
		acked := 0
		for _, p := range all {
			for _, id := range p.ackedFor([]string{u})[u] {
				require.True(t, seen[id], "%s: acknowledged %s missing", u, id)
				acked++
			}
		}
		assert.Equal(t, acked, len(held), "%s: every stored event was acknowledged once", u)
		for _, f := range fs {
			if f.user != u {
				continue
			}
			got, gaps, connects := f.received()
			assert.Empty(t, gaps, "%s: gaps", u)
			require.Equal(t, held, got, "%s (query=%v, %d connects): exactly the stream, in order", u, f.viaQuery, connects)
		}
	}
}
