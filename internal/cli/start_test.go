package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// TestRefusedStartLeavesNoDataFile: configuration is checked, and the port
// taken, before the data file is opened, so a refused start creates no
// empty data file (nor its directory) and reports the real error.
func TestRefusedStartLeavesNoDataFile(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	cases := []struct {
		name string
		args []string
		says string
	}{
		{"bad CORS origin", []string{"--cors-origins", "ftp://app.example.com"}, "CORS origin"},
		{"CORS origin with a path", []string{"--cors-origins", "https://app.example.com/x"}, "CORS origin"},
		{"port in use", []string{"--addr", busy.Addr().String()}, "address already in use"},
		{"missing TLS files", []string{"--tls-cert", "nope.pem", "--tls-key", "nope.key"}, "nope.pem"},
		{"one key alone", []string{"--publisher-key", "k"}, "come together"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "sselog.db")}, c.args...)
			var stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Run(ctx, args, testkit.Env(), &bytes.Buffer{}, &stderr)
			require.Error(t, err, "stderr: %s", stderr.String())
			assert.Contains(t, err.Error(), c.says)
			_, statErr := os.Stat(dir)
			assert.ErrorIs(t, statErr, os.ErrNotExist, "a refused start left %s behind", dir)
		})
	}
}

// TestSecondServerOnTheSameFile: a second server started on a running
// one's address and data file says the address is in use, not that the
// file is locked (which is only a symptom).
func TestSecondServerOnTheSameFile(t *testing.T) {
	data := filepath.Join(t.TempDir(), "s.db")
	var stderr testkit.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--addr", "127.0.0.1:0", "--data", data, "--log-format", "json"}, testkit.Env(), &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("the first server did not stop")
		}
	}()
	var addr string
	testkit.WaitFor(t, 10*time.Second, "the first server's address", func() bool {
		_, after, ok := strings.Cut(stderr.String(), `"addr":"`)
		addr, _, _ = strings.Cut(after, `"`)
		return ok
	})
	start := time.Now()
	err := Run(context.Background(), []string{"--addr", addr, "--data", data}, testkit.Env(), &bytes.Buffer{}, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "address already in use")
	assert.NotContains(t, err.Error(), "timeout")
	t.Logf("refused in %s: %v", time.Since(start).Round(time.Millisecond), err)
}
