package cli

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

func TestServeConfigRefusals(t *testing.T) {
	data := "--data=" + filepath.Join(t.TempDir(), "x.db")
	cases := []struct {
		name string
		args []string
		env  []string
		says string
	}{
		{"open mode on all interfaces", []string{"--addr", ":8080"}, nil, "refusing to listen on :8080 without keys"},
		{"open mode on a public address", []string{"--addr", "0.0.0.0:8080"}, nil, "refusing to listen"},
		{"open mode on a host name", nil, []string{"SSELOG_ADDR=example.com:80"}, "refusing to listen"},
		{"publisher key alone", []string{"--publisher-key", "k"}, nil, "come together"},
		{"subscriber secret alone", nil, []string{"SSELOG_SUBSCRIBER_SECRET=s"}, "come together"},
		{"one key alone on loopback", []string{"--addr", "127.0.0.1:0"}, []string{"SSELOG_PUBLISHER_KEY=k"}, "come together"},
		{"pprof off loopback", []string{"--pprof", "0.0.0.0:6060"}, nil, "--pprof"},
		{"half TLS", []string{"--tls-cert", "c.pem"}, nil, "--tls-cert and --tls-key"},
		{"bad log format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"bad env duration", nil, []string{"SSELOG_RETENTION=a week"}, "SSELOG_RETENTION"},
		{"bad env int", nil, []string{"SSELOG_MAX_EVENTS=many"}, "SSELOG_MAX_EVENTS"},
		{"negative max events", []string{"--max-events", "-1"}, nil, "--max-events"},
		{"zero heartbeat", []string{"--heartbeat", "0s"}, nil, "--heartbeat"},
		{"short keys", nil, []string{"SSELOG_PUBLISHER_KEY=k", "SSELOG_SUBSCRIBER_SECRET=s"}, "openssl rand -hex 32"},
		{"batch limit below event limit", []string{"--max-body", "2000", "--max-batch-body", "1000"}, nil, "--max-body"},
		{"stray argument", []string{"serve", "extra"}, nil, "unexpected argument"},
		{"wildcard CORS", []string{"--cors-origins", "*"}, nil, "refused"},
		{"unknown command", []string{"frobnicate"}, nil, "unknown command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := c.args
			if len(args) == 0 || args[0] != "serve" && args[0] != "frobnicate" {
				args = append(append([]string{}, args...), data)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Run(ctx, args, testkit.Env(c.env...), &bytes.Buffer{}, &stderr)
			require.Error(t, err, "stderr: %s", stderr.String())
			assert.Contains(t, err.Error(), c.says)
		})
	}
}

func TestServeConfigPrecedence(t *testing.T) {
	c, err := parseServeConfig([]string{"--heartbeat", "5s"}, testkit.Env("SSELOG_HEARTBEAT=9s", "SSELOG_RETENTION=1h", "SSELOG_ADDR=[::1]:9"), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, c.Heartbeat, "the flag wins")
	assert.Equal(t, time.Hour, c.Retention, "the environment beats the default")
	assert.Equal(t, "[::1]:9", c.Addr)
	assert.Equal(t, "data/sselog.db", c.Data, "the documented default")
	assert.Equal(t, 10000, c.MaxEvents)
	assert.Equal(t, time.Minute, c.CompactInterval)
	assert.Equal(t, 168*time.Hour, parseDefault(t).Retention)
}

func parseDefault(t *testing.T) serveConfig {
	t.Helper()
	c, err := parseServeConfig(nil, testkit.Env(), &bytes.Buffer{})
	require.NoError(t, err)
	return c
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:1": true, "[::1]:80": true, "localhost:80": true, "LOCALHOST:1": true,
		":8080": false, "0.0.0.0:80": false, "[::]:80": false, "10.0.0.1:80": false, "example.com:80": false, "nonsense": false,
	} {
		assert.Equal(t, want, isLoopback(addr), addr)
	}
}

// TestServeInProcess: run() serves, answers, and returns nil once its
// context ends, logging the effective config without secrets.
func TestServeInProcess(t *testing.T) {
	var stderr testkit.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "s.db"), "--log-format", "json"},
			testkit.Env("SSELOG_PUBLISHER_KEY=pk-secret-0123456789abcdef0123456789", "SSELOG_SUBSCRIBER_SECRET=ss-secret-0123456789abcdef0123456789"), &bytes.Buffer{}, &stderr)
	}()
	var addr string
	require.Eventually(t, func() bool {
		_, after, ok := strings.Cut(stderr.String(), `"addr":"`)
		addr, _, _ = strings.Cut(after, `"`)
		return ok
	}, 10*time.Second, 10*time.Millisecond)
	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	logs := stderr.String()
	assert.Contains(t, logs, `"auth":"keys"`)
	assert.NotContains(t, logs, "pk-secret")
	assert.NotContains(t, logs, "ss-secret")
	assert.NotContains(t, logs, "OPEN MODE")
	assert.Equal(t, 2, strings.Count(logs, "\n"), "one line at start, one at stop:\n%s", logs)
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, Run(context.Background(), []string{"version"}, testkit.Env(), &out, &bytes.Buffer{}))
	assert.True(t, strings.HasPrefix(out.String(), "sselog "), out.String())
}
