package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// nextDir is the Next.js example; .ci/run installs its packages (npm ci).
const nextDir = "../examples/nextjs"

// TestNextJSExample builds examples/nextjs (the recipe's LiveNotifications
// on useSselog, a server action publishing with the publisher key, a route
// minting subscriber tokens), runs it against the real binary with keys,
// and checks in Chromium that a notification sent by the server action
// appears once, and that the page comes back after sselog restarts and
// shows the next one once too. The route mints tokens that expire (past
// sselog's 60 s leeway) 10 s after they are minted, so the page's token
// has expired by the restart: useSselog's provider is called on the 401
// and the stream resumes.
func TestNextJSExample(t *testing.T) {
	for _, name := range []string{"sselog.js", "sselog.d.ts"} {
		copied, err := os.ReadFile(filepath.Join(nextDir, "lib", name))
		require.NoError(t, err)
		served, err := os.ReadFile(filepath.Join("../api/web", name))
		require.NoError(t, err)
		require.Equal(t, string(served), string(copied), "examples/nextjs/lib/%s is a copy of api/web/%s: cp it again", name, name)
	}
	next, err := filepath.Abs(filepath.Join(nextDir, "node_modules", ".bin", "next"))
	require.NoError(t, err)
	if _, err := os.Stat(next); err != nil {
		msg := "!!! the Next.js example test needs its packages: (cd examples/nextjs && npm ci)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + " -- SKIPPED; CI=true makes this a failure")
	}
	env := append(cleanEnv(), "NEXT_TELEMETRY_DISABLED=1")
	start := time.Now()
	build := exec.Command(next, "build")
	build.Dir, build.Env = nextDir, env
	out, err := build.CombinedOutput()
	require.NoError(t, err, "next build:\n%s", out)
	t.Logf("next build: %s", time.Since(start).Round(100*time.Millisecond))

	const (
		pubKey = "nextjs-test-publisher-key-0123456789abcdef"
		secret = "nextjs-test-subscriber-secret-0123456789ab"
	)
	port := freePort(t)
	origin := fmt.Sprintf("http://127.0.0.1:%d", port)
	data := filepath.Join(t.TempDir(), "sselog.db")
	args := []string{"--publisher-key", pubKey, "--subscriber-secret", secret, "--cors-origins", origin, "--retry", "200ms"}
	srv := startServer(t, data, args...)

	app := exec.Command(next, "start", "-p", fmt.Sprint(port), "-H", "127.0.0.1")
	app.Dir = nextDir
	const leeway, valid = 60, 10 // seconds: sselog's exp leeway; how long a minted token works
	app.Env = append(env, "SSELOG_URL="+srv.URL, "SSELOG_PUBLISHER_KEY="+pubKey, "SSELOG_SUBSCRIBER_SECRET="+secret,
		fmt.Sprintf("SSELOG_TOKEN_TTL=%d", valid-leeway))
	app.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var appLogs testkit.SyncBuffer
	app.Stdout, app.Stderr = &appLogs, &appLogs
	require.NoError(t, app.Start())
	exited := make(chan struct{})
	go func() { _ = app.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-app.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-app.Process.Pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("next start:\n%s", appLogs.String())
		}
	})
	testkit.WaitFor(t, 60*time.Second, "next start to answer", func() bool {
		select {
		case <-exited:
			t.Fatalf("next start exited:\n%s", appLogs.String())
		default:
		}
		resp, err := http.Get(origin + "/api/sselog-token?user=alice")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	ctx := newBrowser(t)
	shoot := screenshotOnFailure(t, ctx)
	logConsoleOnFailure(t, ctx)
	pg := &demoPage{t: t, ctx: ctx, shoot: shoot}
	connected := `document.querySelector("#status")?.dataset.status === "connected"`
	titles := `Array.from(document.querySelectorAll("#notifications li strong"), (s) => s.textContent)`
	send := func(title string) {
		t.Helper()
		// React resets the form once the previous action has finished,
		// which may be after its notification arrived: type into an empty
		// field only.
		pg.poll("the form to be ready", `document.querySelector('input[name="title"]')?.value === ""`)
		_, err := within(ctx, 10*time.Second, chromedp.Steps(
			chromedp.Focus(`input[name="title"]`),
			chromedp.KeyEvent(title+kb.Enter),
		))
		require.NoError(t, err, "send %q", title)
	}

	pg.open(origin + "/?user=alice")
	// A token minted alongside the page's: when sselog refuses it, the
	// page's has expired too.
	resp, err := http.Get(origin + "/api/sselog-token?user=alice")
	require.NoError(t, err)
	tokBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)
	pageToken := strings.TrimSpace(string(tokBody))
	pg.poll("the stream to connect", connected)
	send("first from the server action")
	pg.poll("the first notification", `document.querySelectorAll("#notifications li").length >= 1`)
	send("second")
	pg.poll("the second notification", `document.querySelectorAll("#notifications li").length >= 2`)
	assert.Equal(t, []string{"second", "first from the server action"}, pageEval[[]string](pg, titles), "each once, newest first")

	// The token expires while the page is open, then sselog restarts: the
	// browser's reconnect is refused (401), useSselog asks the token route
	// for a new one, and the page resumes.
	testkit.WaitFor(t, (valid+30)*time.Second, "the page's token to expire", func() bool {
		resp, err := http.Get(srv.URL + "/v1/users/alice/events?limit=1&token=" + pageToken)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized
	})
	srv.Stop()
	pg.poll("the status to leave connected", `document.querySelector("#status").dataset.status !== "connected"`)
	srv = startServer(t, data, append(args, "--addr", srv.Addr)...)
	pg.poll("the stream to come back", connected)
	send("after the restart")
	pg.poll("the third notification", `document.querySelectorAll("#notifications li").length >= 3`)
	assert.Equal(t, []string{"after the restart", "second", "first from the server action"}, pageEval[[]string](pg, titles))
	if t.Failed() {
		shoot()
	}
}
