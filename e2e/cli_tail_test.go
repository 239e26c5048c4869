package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// TestTailStateBeforeTheFirstEvent: "sselog tail --state F" on the live
// tail saves where the stream stood as soon as it connects, so a tail
// stopped before any event and started again prints what was published
// in between. The state file stayed empty, and the second tail began at
// the live tail.
func TestTailStateBeforeTheFirstEvent(t *testing.T) {
	srv := startServer(t, filepath.Join(t.TempDir(), "sselog.db"))
	runCLI(t, "publish", "--url", srv.URL, "--user", "alice", "--data", `"before"`)
	state := filepath.Join(t.TempDir(), "alice.last")
	tail := func() (stop func() string) {
		var stdout, stderr testkit.SyncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- cli.Run(ctx, []string{"tail", "--url", srv.URL, "--user", "alice", "--state", state}, testkit.Env(), &stdout, &stderr)
		}()
		testkit.WaitFor(t, wait, "tail to connect", func() bool { return strings.Contains(stderr.String(), "msg=connected") })
		return func() string {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(wait):
				t.Error("tail did not end")
			}
			return stdout.String()
		}
	}
	stop := tail()
	assert.Empty(t, stop(), "the live tail: nothing yet")
	saved, err := os.ReadFile(state)
	require.NoError(t, err, "the state file is written on connect")
	assert.Len(t, strings.TrimSpace(string(saved)), 26, "an id: %q", saved)

	away := strings.TrimSpace(runCLI(t, "publish", "--url", srv.URL, "--user", "alice", "--data", `"while away"`))
	stop = tail()
	testkit.WaitFor(t, wait, "the event published while tail was away", func() bool {
		saved, _ := os.ReadFile(state)
		return strings.TrimSpace(string(saved)) == away
	})
	out := stop()
	assert.Equal(t, 1, strings.Count(out, "\n"), "that event alone, once: %s", out)
	assert.Contains(t, out, away)
}
