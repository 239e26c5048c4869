package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian's chromium package installs the browser
// (.ci/run installs it).
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a headless Chromium with a fresh profile for t and
// returns a chromedp context for one tab in it. Without Chromium the test is
// skipped loudly on a developer's machine and fails under CI=true.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := fmt.Sprintf("!!! browser test needs %s (apt-get install -y chromium): %v", chromiumPath, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + " -- SKIPPED; CI=true makes this a failure")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills the browser and waits for it
	})
	// The first Run starts the browser; it must not carry a timeout, or the
	// timeout would end the browser with it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// within runs a with a bound of d on ctx's tab.
func within[T any](ctx context.Context, d time.Duration, a chromedp.Action[T]) (T, error) {
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return chromedp.Run(c, a)
}

// screenshotOnFailure saves a screenshot of ctx's tab when t has failed by
// its cleanup, and returns a func that saves one at once, for a failure that
// should be seen before the cleanups stop servers (Fatal paths call it
// first). Only the first screenshot is kept. The file goes to
// $SSELOG_ARTIFACTS, or to a new directory that outlives the run: t.TempDir
// is removed when the test ends, screenshot included. Call it after
// newBrowser, so that its cleanup runs before the browser is closed.
func screenshotOnFailure(t *testing.T, ctx context.Context) (shoot func()) {
	var once sync.Once
	shoot = func() { once.Do(func() { saveScreenshot(t, ctx) }) }
	t.Cleanup(func() {
		if t.Failed() {
			shoot()
		}
	})
	return shoot
}

func saveScreenshot(t *testing.T, ctx context.Context) {
	png, err := within(ctx, 5*time.Second, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	dir := os.Getenv("SSELOG_ARTIFACTS")
	if dir == "" {
		if dir, err = os.MkdirTemp("", "sselog-browser-"); err != nil {
			t.Logf("screenshot: %v", err)
			return
		}
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + ".png"
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot of the failing page: %s", path)
}

// scriptedSSE is an SSE endpoint whose answers the page under test chooses:
// GET /sse?key=K&plan=JSON answers request number n for K with plan[n] (the
// last entry repeats), so a test can script a browser's reconnects and
// sselog.js's probes. GET /log?key=K lists what each request carried, and
// GET /open?key=K counts K's streams still held open.
type scriptedSSE struct {
	done chan struct{} // closed at cleanup: ends held-open streams

	mu   sync.Mutex
	seen map[string][]seenRequest
	open map[string]int
}

// planStep is one scripted answer.
type planStep struct {
	Status     int         `json:"status"`     // non-zero: answer this and nothing else
	RetryAfter string      `json:"retryAfter"` // Retry-After header with Status, when set
	Retry      int         `json:"retry"`      // retry: field in ms, when set
	Events     []planEvent `json:"events"`
	Close      bool        `json:"close"`  // end the stream after the events
	Silent     bool        `json:"silent"` // take the request and never answer
}

type planEvent struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	Data  string `json:"data"`
}

// seenRequest is what one request to /sse carried.
type seenRequest struct {
	N      int    `json:"n"`
	Query  string `json:"query"`  // ?lastEventId=
	Header string `json:"header"` // Last-Event-ID
	Token  string `json:"token"`
	Accept string `json:"accept"`
}

func newScriptedSSE() *scriptedSSE {
	return &scriptedSSE{done: make(chan struct{}), seen: map[string][]seenRequest{}, open: map[string]int{}}
}

func (s *scriptedSSE) record(r *http.Request) (int, string) {
	q := r.URL.Query()
	key := q.Get("key")
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.seen[key])
	s.seen[key] = append(s.seen[key], seenRequest{
		N: n, Query: q.Get("lastEventId"), Header: r.Header.Get("Last-Event-ID"),
		Token: q.Get("token"), Accept: r.Header.Get("Accept"),
	})
	return n, key
}

func (s *scriptedSSE) serveLog(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	seen := append([]seenRequest{}, s.seen[r.URL.Query().Get("key")]...)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(seen)
}

func (s *scriptedSSE) serveOpen(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := s.open[r.URL.Query().Get("key")]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(n)
}

// hold keeps a stream open until the client goes or the test ends, counted
// in /open meanwhile.
func (s *scriptedSSE) hold(r *http.Request, key string) {
	s.mu.Lock()
	s.open[key]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.open[key]--
		s.mu.Unlock()
	}()
	select {
	case <-r.Context().Done():
	case <-s.done:
	}
}

func (s *scriptedSSE) serveSSE(w http.ResponseWriter, r *http.Request) {
	n, key := s.record(r)
	var plan []planStep
	if err := json.Unmarshal([]byte(r.URL.Query().Get("plan")), &plan); err != nil || len(plan) == 0 {
		http.Error(w, "bad plan", http.StatusBadRequest)
		return
	}
	step := plan[min(n, len(plan)-1)]
	if step.Silent {
		s.hold(r, key)
		return
	}
	if step.Status != 0 {
		if step.RetryAfter != "" {
			w.Header().Set("Retry-After", step.RetryAfter)
		}
		w.WriteHeader(step.Status)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	var b strings.Builder
	if step.Retry > 0 {
		fmt.Fprintf(&b, "retry: %d\n\n", step.Retry)
	}
	for _, e := range step.Events {
		if e.ID != "" {
			fmt.Fprintf(&b, "id: %s\n", e.ID)
		}
		if e.Event != "" {
			fmt.Fprintf(&b, "event: %s\n", e.Event)
		}
		fmt.Fprintf(&b, "data: %s\n\n", e.Data)
	}
	if _, err := w.Write([]byte(b.String())); err != nil {
		return
	}
	if err := http.NewResponseController(w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return
	}
	if !step.Close {
		s.hold(r, key)
	}
}
