package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/sselog/sselog/internal/cli"
	"github.com/sselog/sselog/internal/testkit"
)

// TestTailSaysWhenItLosesTheServer: "sselog tail" tells its operator when
// the server goes (a restart) and that it is retrying, then resumes after
// the last printed event once the server is back.
func TestTailSaysWhenItLosesTheServer(t *testing.T) {
	data := filepath.Join(t.TempDir(), "sselog.db")
	srv := startServer(t, data, "--retry", "100ms")
	addr := srv.Addr
	var stdout, stderr testkit.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"tail", "--url", srv.URL, "--user", "alice", "--from", "0"}, testkit.Env(), &stdout, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(wait):
			t.Error("tail did not end")
		}
	}()
	first := strings.TrimSpace(runCLI(t, "publish", "--url", srv.URL, "--user", "alice", "--data", "1"))
	testkit.WaitFor(t, wait, "the first event", func() bool { return strings.Contains(stdout.String(), first) })

	srv.Stop()
	testkit.WaitFor(t, wait, "tail to say it lost the server", func() bool {
		return strings.Contains(stderr.String(), "lost the server; retrying") ||
			strings.Contains(stderr.String(), "the server ended the stream; reconnecting")
	})
	srv = startServer(t, data, "--retry", "100ms", "--addr", addr)
	second := strings.TrimSpace(runCLI(t, "publish", "--url", srv.URL, "--user", "alice", "--data", "2"))
	testkit.WaitFor(t, wait, "the second event", func() bool { return strings.Contains(stdout.String(), second) })
	assert.Equal(t, 2, strings.Count(stdout.String(), "\n"), "each event once: %s", stdout.String())
	assert.GreaterOrEqual(t, strings.Count(stderr.String(), "msg=connected"), 2, "connected again: %s", stderr.String())
	t.Logf("tail said:\n%s", stderr.String())
}
