package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// jsResult is one in-page test's outcome, as testdata/browser/unit.js
// reports it in window.__results.
type jsResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	Ms    int    `json:"ms"`
}

// TestBrowserUnit runs sselog.js's unit tests (testdata/browser/unit.js) in
// headless Chromium, with the browser's own EventSource and fetch against a
// scripted SSE server, and reports each one as a subtest.
func TestBrowserUnit(t *testing.T) {
	ctx := newBrowser(t)
	screenshotOnFailure(t, ctx)
	logConsoleOnFailure(t, ctx)

	sse := newScriptedSSE()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sselog.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "../api/web/sselog.js")
	})
	mux.Handle("GET /test/", http.StripPrefix("/test/", http.FileServer(http.Dir("testdata/browser"))))
	mux.HandleFunc("GET /sse", sse.serveSSE)
	mux.HandleFunc("GET /log", sse.serveLog)
	mux.HandleFunc("GET /open", sse.serveOpen)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		close(sse.done)
		srv.CloseClientConnections()
		srv.Close()
	})

	if _, err := within(ctx, 10*time.Second, chromedp.Navigate(srv.URL+"/test/unit.html")); err != nil {
		t.Fatalf("open unit page: %v", err)
	}
	results, err := within(ctx, 40*time.Second, chromedp.Poll[[]jsResult]("window.__results",
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(35*time.Second)))
	if err != nil {
		type progress struct {
			Current string     `json:"current"`
			Results []jsResult `json:"results"`
		}
		p, perr := within(ctx, 5*time.Second, chromedp.Evaluate[progress]("window.__progress"))
		t.Fatalf("wait for the in-page results: %v; stuck in %q after %d tests %+v (%v)",
			err, p.Current, len(p.Results), p.Results, perr)
	}
	if len(results) < 10 {
		t.Fatalf("only %d in-page tests ran", len(results))
	}
	for _, r := range results {
		t.Run(r.Name, func(t *testing.T) {
			if !r.OK {
				t.Error(r.Error)
			}
		})
	}
	t.Logf("%d in-page tests", len(results))
}

// logConsoleOnFailure collects what ctx's tab writes to its console and logs
// it when t fails.
func logConsoleOnFailure(t *testing.T, ctx context.Context) {
	cctx, cancel := context.WithCancel(ctx)
	var (
		mu    sync.Mutex
		lines []string
		wg    sync.WaitGroup
	)
	messages := chromedp.Console(cctx)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			lines = append(lines, m.String())
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if !t.Failed() {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			t.Logf("console: %s", l)
		}
	})
}
