package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/api"
)

// TestBrowserTokenExpiry runs sselog.js in headless Chromium against the
// binary with keys and a token provider: the first token expires while the
// page is open, then the server restarts. The browser's own reconnect
// carries the expired token and is refused with 401; sselog.js asks the
// provider for a new token and resumes from the last id it saw, so every
// event arrives once, in order, and nothing stops for good.
func TestBrowserTokenExpiry(t *testing.T) {
	ctx := newBrowser(t)
	shoot := screenshotOnFailure(t, ctx)
	logConsoleOnFailure(t, ctx)
	const (
		pubKey = "browser-test-publisher-key-0123456789"
		secret = "browser-test-subscriber-secret-0123456789"
		leeway = 60 * time.Second // the server's exp leeway
		valid  = 8 * time.Second  // how long the first token stays valid
	)
	data := filepath.Join(t.TempDir(), "sselog.db")
	args := []string{"--publisher-key", pubKey, "--subscriber-secret", secret, "--retry", "200ms", "--heartbeat", "2s"}
	srv := startServer(t, data, args...)
	addr := srv.Addr
	pg := &demoPage{t: t, ctx: ctx, shoot: shoot}

	// A same-origin page that is not the demo, so the test owns the only
	// subscription: the module is imported by hand.
	pg.open(srv.URL + "/healthz")
	issued := time.Now()
	first, err := api.IssueToken(secret, "alice", valid, issued.Add(-leeway))
	require.NoError(t, err)
	fresh, err := api.IssueToken(secret, "alice", time.Hour, time.Now())
	require.NoError(t, err)
	pageEval[any](pg, fmt.Sprintf(`
		window.__tokens = [%q, %q];
		window.__calls = 0;
		window.__got = [];
		window.__statusLog = [];
		window.__errors = [];
		import("/sselog.js").then((m) => {
			window.sub = m.subscribe({
				url: "/v1/users/alice/stream",
				token: async () => window.__tokens[Math.min(window.__calls++, window.__tokens.length - 1)],
				events: { notification: null },
				onMessage: (data, id) => window.__got.push(id),
				onStatus: (s) => window.__statusLog.push(s),
				onError: (e) => window.__errors.push(e.message + " " + e.status),
				backoff: { baseMs: 100, maxMs: 1000 },
			});
		});
		true`, first, fresh))
	pg.poll("connected", `window.__statusLog.at(-1) === "connected"`)
	if time.Since(issued) > valid {
		t.Logf("the page connected only after the first token expired: the 401 path ran at start")
	}

	var ids []string
	publish := func(n int, what string) {
		for i := range n {
			ids = append(ids, publishNote(t, srv.URL, pubKey, "alice", false, fmt.Sprintf("%s %d", what, i)))
		}
	}
	waitGot := func() {
		t.Helper()
		pg.poll(fmt.Sprintf("%d events", len(ids)), fmt.Sprintf(`window.__got.length >= %d`, len(ids)))
	}
	publish(3, "with the first token")
	waitGot()

	// The first token expires (past the leeway) while the page is open.
	deadline := time.Now().Add(valid + 30*time.Second)
	for {
		resp, err := http.Get(srv.URL + "/v1/users/alice/events?limit=1&token=" + first)
		require.NoError(t, err)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			break
		}
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.True(t, time.Now().Before(deadline), "the first token never expired")
		select {
		case <-srv.Exited():
			t.Fatalf("server exited\n%s", srv.Logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
	publish(2, "after the first token expired")
	waitGot()

	// A deploy: the browser's reconnect carries the expired token.
	mark := pageEval[int](pg, "window.__statusLog.length")
	srv.Stop()
	pg.poll("the stream to drop", fmt.Sprintf(`window.__statusLog.slice(%d).some((s) => s !== "connected")`, mark))
	srv = startServer(t, data, append(args, "--addr", addr)...)
	publish(3, "after the restart")
	pg.poll("connected again", `window.__statusLog.at(-1) === "connected"`)
	waitGot()
	publish(1, "live again")
	waitGot()

	assert.Equal(t, ids, pageEval[[]string](pg, "window.__got"), "each event once, in order")
	assert.Empty(t, pageEval[[]string](pg, "window.__errors"), "errors")
	assert.Equal(t, 2, pageEval[int](pg, "window.__calls"), "provider calls: at start, after the 401")
	assert.Equal(t, "connected", pageEval[string](pg, "window.sub.status"))
	if t.Failed() {
		shoot()
	}
}
