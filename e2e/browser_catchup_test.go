package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrowserCatchUp opens the demo page in headless Chromium against the
// real binary and takes its stream through everything a laptop and a deploy
// do to it: a clean restart (SIGTERM) with nothing published while the server
// is down, a crash (SIGKILL), a dropped connection with events published
// while the browser is cut off, and a page reload. In the end the page must
// show every event exactly once, in publish order, and its status dot must
// have left green and come back each time.
func TestBrowserCatchUp(t *testing.T) {
	ctx := newBrowser(t)
	shoot := screenshotOnFailure(t, ctx)
	logConsoleOnFailure(t, ctx)

	data := filepath.Join(t.TempDir(), "sselog.db")
	// A short retry: keeps the browser's own reconnects quick.
	args := []string{"--retry", "200ms", "--heartbeat", "2s"}
	srv := startServer(t, data, args...)
	addr := srv.Addr
	proxy := startCutProxy(t, addr)
	pg := &demoPage{t: t, ctx: ctx, shoot: shoot}

	pageURL := "http://" + proxy.Addr() + "/?user=alice"
	pg.open(pageURL)
	pg.waitStatus("connected")

	var ids []string
	publish := func(n int, what string) {
		for i := range n {
			// Every fifth is a broadcast: it must merge into alice's stream.
			ids = append(ids, publishNote(t, srv.URL, "", "alice", len(ids)%5 == 4, fmt.Sprintf("%s %d", what, i)))
		}
	}

	publish(20, "first")
	pg.waitCount(len(ids))

	// A deploy: SIGTERM ends the stream cleanly; nothing is published while
	// the server is down; it comes back on the same file and port.
	mark := pg.statusCount()
	srv.Stop()
	pg.waitLeftGreen(mark)
	srv = startServer(t, data, append(args, "--addr", addr)...)
	pg.waitStatus("connected")
	publish(20, "after restart")
	pg.waitCount(len(ids))

	// A crash: SIGKILL mid-stream, back at once, publish while the browser
	// may or may not have reconnected yet.
	mark = pg.statusCount()
	srv.Kill()
	pg.waitLeftGreen(mark)
	srv = startServer(t, data, append(args, "--addr", addr)...)
	publish(2, "after crash")
	pg.waitStatus("connected")
	pg.waitCount(len(ids))

	// A dropped connection with the server up: what is published while the
	// browser is cut off must arrive by catch-up, not by the live stream.
	mark = pg.statusCount()
	proxy.Cut()
	pg.waitLeftGreen(mark)
	before := len(ids)
	publish(5, "while cut off")
	assert.Equal(t, before, pg.count(), "events reached a browser that was cut off")
	proxy.Restore()
	pg.waitStatus("connected")
	pg.waitCount(len(ids))

	assert.Equal(t, ids, pageEval[[]string](pg, "window.__delivered"), "deliveries: each event once, in order")
	t.Logf("status log %v, own reconnects %v", pageEval[[]string](pg, "window.__statusLog"),
		pageEval[[]map[string]int](pg, "window.__retries"))

	// The tab closed and opened again later: the list comes back from
	// storage, and the stream resumes from the stored id, so what was
	// published meanwhile arrives once and nothing older is delivered again.
	pg.open("about:blank")
	before = len(ids)
	publish(2, "while the page was closed")
	pg.open(pageURL)
	pg.waitStatus("connected")
	publish(1, "after reopening")
	pg.waitCount(len(ids))
	assert.Equal(t, ids[before:], pageEval[[]string](pg, "window.__delivered"), "deliveries after reopening")

	shown := pg.shownIDs()
	slices.Reverse(shown) // the page shows the newest first
	assert.Equal(t, ids, shown, "the page shows every event once, in order")
	if t.Failed() {
		shoot()
	}
	t.Logf("%d events shown once each, in order", len(shown))
}

// publishNote publishes a notification for user, or a broadcast, straight to
// the server, with the publisher key when not empty, and returns its id.
func publishNote(t *testing.T, base, key, user string, broadcast bool, title string) string {
	t.Helper()
	url := base + "/v1/users/" + user + "/events"
	if broadcast {
		url = base + "/v1/broadcast"
		title = "broadcast: " + title
	}
	body, err := json.Marshal(map[string]any{
		"event": "notification",
		"data":  map[string]string{"title": title, "body": "catch-up test", "type": "info"},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "publish %q", title)
	defer resp.Body.Close()
	var out struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "publish %q: %s", title, out.Error)
	require.Len(t, out.ID, 26, "publish %q: id", title)
	return out.ID
}

// demoPage drives the demo page (api/web/index.html) in one tab.
type demoPage struct {
	t     *testing.T
	ctx   context.Context
	shoot func() // screenshot now, while the servers still run
}

func (p *demoPage) open(url string) {
	p.t.Helper()
	_, err := within(p.ctx, 10*time.Second, chromedp.Navigate(url))
	require.NoError(p.t, err, "open %s", url)
}

func (p *demoPage) reload() {
	p.t.Helper()
	_, err := within(p.ctx, 10*time.Second, chromedp.Reload())
	require.NoError(p.t, err, "reload")
}

// poll waits up to 15 s for the JavaScript expression to be truthy. A
// poll that a navigation cut (its execution context destroyed, as after a
// reload on a busy machine) starts again in the new page, within the
// same bound.
func (p *demoPage) poll(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for {
		_, err = within(p.ctx, time.Until(deadline)+5*time.Second, chromedp.Poll[chromedp.Void](expr,
			chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil || !strings.Contains(err.Error(), "Cannot find context") || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		log := pageEval[[]string](p, "window.__statusLog || []")
		p.shoot()
		p.t.Fatalf("waiting for %s: %v (status log %v, %d shown)", what, err, log, p.count())
	}
}

// pageEval evaluates expr in p's tab.
func pageEval[T any](p *demoPage, expr string) T {
	p.t.Helper()
	v, err := within(p.ctx, 5*time.Second, chromedp.Evaluate[T](expr))
	require.NoError(p.t, err, "evaluate %s", expr)
	return v
}

// waitStatus waits until the dot shows status, both in its data attribute
// and in the recorded log.
func (p *demoPage) waitStatus(status string) {
	p.t.Helper()
	p.poll("status "+status, fmt.Sprintf(
		`document.querySelector("#status").dataset.status === %q && window.__statusLog.at(-1) === %q`, status, status))
}

func (p *demoPage) statusCount() int { return pageEval[int](p, "window.__statusLog.length") }

// waitLeftGreen waits until, after the first mark status changes, the page
// reported a status other than connected (amber or red).
func (p *demoPage) waitLeftGreen(mark int) {
	p.t.Helper()
	p.poll("the dot to leave green", fmt.Sprintf(
		`window.__statusLog.slice(%d).some((s) => s !== "connected")`, mark))
}

func (p *demoPage) count() int {
	return pageEval[int](p, `document.querySelectorAll("#notifications li").length`)
}

func (p *demoPage) waitCount(n int) {
	p.t.Helper()
	p.poll(fmt.Sprintf("%d notifications", n), fmt.Sprintf(
		`document.querySelectorAll("#notifications li").length >= %d`, n))
	// Anything extra (a duplicate) would have arrived with the rest.
	if got := p.count(); got != n {
		p.shoot()
		p.t.Fatalf("%d notifications shown, want %d", got, n)
	}
}

func (p *demoPage) shownIDs() []string {
	return pageEval[[]string](p, `Array.from(document.querySelectorAll("#notifications li"), (li) => li.dataset.id)`)
}
