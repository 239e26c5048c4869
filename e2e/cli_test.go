package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/internal/cli"
	"github.com/sselog/sselog/internal/testkit"
)

const (
	cliKey    = "cli-publisher-key-0123456789abcdef0123"
	cliSecret = "cli-subscriber-secret-0123456789abcdef"
)

// runCLI runs a subcommand in-process with the keys in its environment
// and returns its stdout.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cli.Run(ctx, args, testkit.Env("SSELOG_PUBLISHER_KEY="+cliKey, "SSELOG_SUBSCRIBER_SECRET="+cliSecret), &out, &errOut)
	require.NoError(t, err, "sselog %s\nstderr: %s", strings.Join(args, " "), errOut.String())
	return out.String()
}

// tailUntil runs "sselog tail" in-process until it has printed n lines.
func tailUntil(t *testing.T, n int, args ...string) []string {
	t.Helper()
	var out testkit.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, append([]string{"tail"}, args...), testkit.Env(), &out, &bytes.Buffer{})
	}()
	deadline := time.After(wait)
	for strings.Count(out.String(), "\n") < n {
		select {
		case err := <-done:
			t.Fatalf("tail ended early: %v\n%s", err, out.String())
		case <-deadline:
			cancel()
			t.Fatalf("tail printed %q, want %d lines", out.String(), n)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "an interrupted tail exits cleanly")
	case <-time.After(wait):
		t.Fatal("tail did not stop when interrupted")
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

// TestCLI: token, publish, tail --state (resuming exactly after the last
// printed event across runs) against the real binary.
func TestCLI(t *testing.T) {
	s := startServerEnv(t, filepath.Join(t.TempDir(), "sselog.db"),
		[]string{"SSELOG_PUBLISHER_KEY=" + cliKey, "SSELOG_SUBSCRIBER_SECRET=" + cliSecret})
	tok := strings.TrimSpace(runCLI(t, "token", "--user", "alice", "--ttl", "10m"))
	state := filepath.Join(t.TempDir(), "alice.last")

	id1 := strings.TrimSpace(runCLI(t, "publish", "--url", s.URL, "--user", "alice", "--event", "note", "--data", `{"n": 1}`))
	_, err := eventlog.ParseID(id1)
	require.NoError(t, err, "publish prints the id")
	again := strings.TrimSpace(runCLI(t, "publish", "--url", s.URL, "--user", "alice", "--data", `2`, "--idempotency-key", "k1"))
	require.Equal(t, again, strings.TrimSpace(runCLI(t, "publish", "--url", s.URL, "--user", "alice", "--data", `2`, "--idempotency-key", "k1")))

	lines := tailUntil(t, 2, "--url", s.URL, "--user", "alice", "--token", tok, "--state", state, "--from", "0")
	assert.JSONEq(t, `{"id":"`+id1+`","event":"note","data":{"n":1}}`, lines[0])
	assert.JSONEq(t, `{"id":"`+again+`","event":"message","data":2}`, lines[1])
	saved, err := os.ReadFile(state)
	require.NoError(t, err)
	assert.Equal(t, again, strings.TrimSpace(string(saved)))

	bc := strings.TrimSpace(runCLI(t, "publish", "--url", s.URL, "--broadcast", "--event", "news", "--data", `"all"`))
	id4 := strings.TrimSpace(runCLI(t, "publish", "--url", s.URL, "--user", "alice", "--data", `4`))
	lines = tailUntil(t, 2, "--url", s.URL, "--user", "alice", "--token", tok, "--state", state)
	assert.JSONEq(t, `{"id":"`+bc+`","event":"news","data":"all"}`, lines[0], "resumes exactly after the saved id")
	assert.JSONEq(t, `{"id":"`+id4+`","event":"message","data":4}`, lines[1])

	var stderr bytes.Buffer
	err = cli.Run(context.Background(), []string{"tail", "--url", s.URL, "--user", "alice", "--token", "forged"}, testkit.Env(), &bytes.Buffer{}, &stderr)
	require.ErrorContains(t, err, "401", "a refused token ends tail instead of retrying forever")
	err = cli.Run(context.Background(), []string{"publish", "--url", s.URL, "--user", "alice", "--data", "{"}, testkit.Env(), &bytes.Buffer{}, &stderr)
	require.ErrorContains(t, err, "not valid JSON")
	err = cli.Run(context.Background(), []string{"publish", "--url", s.URL, "--user", "alice", "--broadcast", "--data", "1"}, testkit.Env(), &bytes.Buffer{}, &stderr)
	require.ErrorContains(t, err, "exactly one")
	s.Stop()
}

// TestCLIBackupDuringLoad: "sselog backup" while publishers run writes a
// verified file holding every event acknowledged before it started, and
// leaves no .tmp behind.
func TestCLIBackupDuringLoad(t *testing.T) {
	s := startServerEnv(t, filepath.Join(t.TempDir(), "sselog.db"),
		[]string{"SSELOG_PUBLISHER_KEY=" + cliKey, "SSELOG_SUBSCRIBER_SECRET=" + cliSecret})
	c, err := client.New(s.URL, client.WithPublisherKey(cliKey))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu    sync.Mutex
		acked []string
		n     atomic.Int64
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < 20000; i++ {
				id, err := c.Publish(ctx, fmt.Sprintf("u%d", w), "", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), "")
				if err != nil {
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
				n.Add(1)
			}
		})
	}
	require.Eventually(t, func() bool { return n.Load() >= 500 }, wait, 5*time.Millisecond)
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()

	out := filepath.Join(t.TempDir(), "backup.db")
	report := runCLI(t, "backup", "--url", s.URL, "-o", out, "--quiet")
	cancel()
	wg.Wait()
	assert.Contains(t, report, "events")
	_, err = os.Stat(out + ".tmp")
	assert.ErrorIs(t, err, os.ErrNotExist)

	lg, err := eventlog.Open(out, eventlog.Options{})
	require.NoError(t, err)
	held := map[string]bool{}
	for w := range 4 {
		for _, e := range eventlogtest.Events(t, lg, fmt.Sprintf("u%d", w)) {
			held[e.ID.String()] = true
		}
	}
	for _, id := range before {
		require.True(t, held[id], "acknowledged event %s missing from the backup", id)
	}
	t.Logf("%s; %d acknowledged before it started", strings.TrimSpace(report), len(before))
	require.NoError(t, lg.Close()) // a file held open is refused as a destination

	var stderr bytes.Buffer
	err = cli.Run(context.Background(), []string{"backup", "--url", s.URL, "-o", out}, testkit.Env("SSELOG_PUBLISHER_KEY=wrong"), &bytes.Buffer{}, &stderr)
	require.ErrorContains(t, err, "401")
	_, err = os.Stat(out)
	require.NoError(t, err, "a failed backup leaves the previous file in place")

	resp, err := http.Get(s.URL + "/v1/admin/backup")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
