package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// needTool returns the path of a tool a deploy test runs; without it the
// test is skipped loudly, and fails under CI=true (.ci/run installs it).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
			if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
				return filepath.Join(dir, name)
			}
		}
		msg := fmt.Sprintf("!!! this test needs %s (apt-get install -y %s)", name, pkg)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + " -- SKIPPED; CI=true makes this a failure")
	}
	return path
}

// TestSystemdUnit: deploy/sselog.service passes systemd-analyze verify
// (with ExecStart pointed at the built binary, which verify requires to
// exist) without a warning, and carries the hardening it promises.
func TestSystemdUnit(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile("../deploy/sselog.service")
	require.NoError(t, err)
	for _, line := range []string{"DynamicUser=yes", "StateDirectory=sselog", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"LimitNOFILE=1048576", "KillSignal=SIGTERM", "EnvironmentFile=/etc/sselog/sselog.env"} {
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(line)+`$`, string(unit))
	}
	assert.Contains(t, string(unit), "--data /var/lib/sselog/sselog.db", "the data file in the StateDirectory")
	local := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/sselog `).ReplaceAll(unit, []byte("ExecStart="+sselogBinary(t)+" "))
	require.NotEqual(t, unit, local, "ExecStart=/usr/local/bin/sselog")
	path := filepath.Join(t.TempDir(), "sselog.service")
	require.NoError(t, os.WriteFile(path, local, 0o644))
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify:\n%s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warns")
}

// freePort returns a loopback port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNginx runs Debian's nginx with deploy/nginx/sselog.conf, its ports,
// upstream and certificate replaced by the test's, in front of upstream
// (host:port), and returns the HTTPS base URL.
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	bin := needTool(t, "nginx", "nginx")
	site, err := os.ReadFile("../deploy/nginx/sselog.conf")
	require.NoError(t, err)
	for _, d := range []string{"proxy_buffering off;", "proxy_http_version 1.1;", `proxy_set_header Connection "";`,
		"proxy_read_timeout 1h;", "gzip off;"} {
		assert.Regexp(t, `(?m)^\s*`+regexp.QuoteMeta(d)+`$`, string(site))
	}
	dir := t.TempDir()
	cert, key := selfSigned(t)
	tlsPort, plainPort := freePort(t), freePort(t)
	conf := string(site)
	for _, r := range []struct{ re, with string }{
		{`(?m)^(\s*)server 127\.0\.0\.1:8080;`, "${1}server " + upstream + ";"},
		{`(?m)^(\s*)listen 443 ssl http2;`, fmt.Sprintf("${1}listen 127.0.0.1:%d ssl http2;", tlsPort)},
		{`(?m)^(\s*)listen \[::\]:443 ssl http2;\n`, ""},
		{`(?m)^(\s*)listen 80;`, fmt.Sprintf("${1}listen 127.0.0.1:%d;", plainPort)},
		{`(?m)^(\s*)listen \[::\]:80;\n`, ""},
		{`(?m)^(\s*)ssl_certificate\s+(\S+);`, "${1}ssl_certificate " + cert + ";"},
		{`(?m)^(\s*)ssl_certificate_key\s+(\S+);`, "${1}ssl_certificate_key " + key + ";"},
	} {
		re := regexp.MustCompile(r.re)
		require.True(t, re.MatchString(conf), "deploy/nginx/sselog.conf has no line matching %s", r.re)
		conf = re.ReplaceAllString(conf, r.with)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sselog.conf"), []byte(conf), 0o644))
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the test's temp directory
	}
	main := fmt.Sprintf(`%s
worker_processes 1;
error_log %[2]s/error.log warn;
pid %[2]s/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/sselog.conf;
}
`, user, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644))
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	var logs testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx: %s\n%s", logs.String(), b)
		}
	})
	base := fmt.Sprintf("https://127.0.0.1:%d", tlsPort)
	testkit.WaitFor(t, 10*time.Second, "nginx to answer", func() bool {
		select {
		case <-done:
			t.Fatalf("nginx exited: %s", logs.String())
		default:
		}
		resp, err := insecureClient().Get(base + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

func insecureClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the test's own certificate
		ForceAttemptHTTP2: true,
	}}
}

// TestNginxSite streams and resumes through Debian's nginx configured by
// deploy/nginx/sselog.conf: events arrive one by one as they are published
// (nothing buffered, nothing gzipped), a restart of sselog behind nginx
// ends the stream cleanly, and a reconnect with Last-Event-ID through nginx
// gets exactly what was published meanwhile.
func TestNginxSite(t *testing.T) {
	const (
		pubKey = "deploy-test-publisher-key-0123456789abcd"
		secret = "deploy-test-subscriber-secret-0123456789"
	)
	data := filepath.Join(t.TempDir(), "sselog.db")
	args := []string{"--publisher-key", pubKey, "--subscriber-secret", secret, "--heartbeat", "1s"}
	srv := startServer(t, data, args...)
	base := startNginx(t, srv.Addr)
	hc := insecureClient()
	tok := subscriberToken(t, secret, "alice")
	publish := func(n int) string {
		req, err := http.NewRequest(http.MethodPost, base+"/v1/users/alice/events", strings.NewReader(fmt.Sprintf(`{"event":"n","data":%d}`, n)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+pubKey)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		require.Equal(t, http.StatusCreated, resp.StatusCode, "publish through nginx: %s", b.String())
		id := regexp.MustCompile(`"id":"([0-9A-Z]{26})"`).FindStringSubmatch(b.String())
		require.NotNil(t, id, b.String())
		return id[1]
	}

	st, err := testkit.Dial(hc, base+"/v1/users/alice/stream?token="+tok, http.Header{"Accept-Encoding": {"gzip"}})
	require.NoError(t, err)
	st.Bind(t)

	require.Equal(t, http.StatusOK, st.Resp.StatusCode)
	assert.True(t, strings.HasPrefix(st.Resp.Header.Get("Content-Type"), "text/event-stream"))
	assert.Empty(t, st.Resp.Header.Get("Content-Encoding"), "a stream must not be compressed")
	assert.Equal(t, "connected", st.Next(wait).Event)
	var last string
	for i := range 3 {
		id := publish(i)
		m := st.NextData(wait) // one at a time: nginx does not hold events back
		assert.Equal(t, id, m.ID)
		assert.Equal(t, fmt.Sprint(i), m.Data)
		last = id
	}
	// Heartbeats pass through too (every second here).
	testkit.WaitFor(t, wait, "a heartbeat through nginx", func() bool { return st.Comments() > 0 })

	// sselog restarts behind nginx: the stream ends cleanly.
	srv.Stop()
	st.WaitEnd(wait)
	srv = startServer(t, data, append(args, "--addr", srv.Addr)...)
	missed := []string{publish(10), publish(11)}

	re, err := testkit.Dial(hc, base+"/v1/users/alice/stream?token="+tok, http.Header{"Last-Event-ID": {last}})
	require.NoError(t, err)
	re.Bind(t)

	require.Equal(t, http.StatusOK, re.Resp.StatusCode)
	for _, id := range missed {
		assert.Equal(t, id, re.NextData(wait).ID, "resumed exactly after %s", last)
	}
	live := publish(12)
	assert.Equal(t, live, re.NextData(wait).ID)
}
