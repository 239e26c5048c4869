package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/sse"
)

func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	a := newTestAPI(t, withKeys, func(c *Config) { c.CORSOrigins = []string{app, " http://localhost:3000 "} })

	t.Run("preflight allowed", func(t *testing.T) {
		ans := a.do(t, http.MethodOptions, "/v1/users/alice/events", nil,
			"Origin: "+app, "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: authorization, idempotency-key")
		require.Equal(t, http.StatusNoContent, ans.Status)
		h := ans.Header
		assert.Equal(t, app, h.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "true", h.Get("Access-Control-Allow-Credentials"))
		assert.Contains(t, h.Get("Access-Control-Allow-Methods"), "POST")
		for _, want := range []string{"Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"} {
			assert.Contains(t, h.Get("Access-Control-Allow-Headers"), want)
		}
		assert.Contains(t, h.Values("Vary"), "Origin")
	})
	t.Run("preflight from another origin", func(t *testing.T) {
		ans := a.do(t, http.MethodOptions, "/v1/users/alice/stream", nil,
			"Origin: https://evil.example", "Access-Control-Request-Method: GET")
		require.Equal(t, http.StatusNoContent, ans.Status)
		assert.Empty(t, ans.Header.Get("Access-Control-Allow-Origin"))
		assert.Empty(t, ans.Header.Get("Access-Control-Allow-Methods"))
	})
	t.Run("actual request", func(t *testing.T) {
		ans := a.do(t, http.MethodGet, "/healthz", nil, "Origin: http://localhost:3000")
		require.Equal(t, http.StatusOK, ans.Status)
		assert.Equal(t, "http://localhost:3000", ans.Header.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "true", ans.Header.Get("Access-Control-Allow-Credentials"))
		ans = a.do(t, http.MethodGet, "/healthz", nil, "Origin: https://evil.example")
		assert.Empty(t, ans.Header.Get("Access-Control-Allow-Origin"))
		assert.Contains(t, ans.Header.Values("Vary"), "Origin", "caches must key on Origin")
	})
	t.Run("errors carry CORS headers too", func(t *testing.T) {
		ans := a.do(t, http.MethodPost, "/v1/users/alice/events", strings.NewReader(`{}`), "Origin: "+app)
		require.Equal(t, http.StatusUnauthorized, ans.Status)
		assert.Equal(t, app, ans.Header.Get("Access-Control-Allow-Origin"), "else the browser hides the error body")
	})
	t.Run("no wildcard", func(t *testing.T) {
		lg, err := eventlog.Open(filepath.Join(t.TempDir(), "x.db"), eventlog.Options{})
		require.NoError(t, err)
		defer lg.Close()
		for _, bad := range []string{"*", "null", "app.example.com", "https://app.example.com/path", "ftp://x"} {
			_, err := New(lg, Config{CORSOrigins: []string{bad}})
			assert.Error(t, err, bad)
		}
	})
}

// TestOpenMode: with no keys the user in the path is trusted, as in the
// recipe (the binary allows this on loopback only).
func TestOpenMode(t *testing.T) {
	a := newTestAPI(t)
	ans := a.do(t, http.MethodPost, "/v1/users/alice/events", strings.NewReader(`{"data":1}`))
	require.Equal(t, http.StatusCreated, ans.Status, "%s", ans.Body)
	ans = a.do(t, http.MethodGet, "/v1/users/alice/events", nil)
	require.Equal(t, http.StatusOK, ans.Status)
	assert.Len(t, ans.JSON(t)["events"], 1)
	ans = a.do(t, http.MethodGet, "/v1/admin/backup", nil)
	require.Equal(t, http.StatusOK, ans.Status)
}

// TestBackupDuringLoad: a backup taken while publishers run holds every
// event acknowledged before the request started, and opens as a log.
func TestBackupDuringLoad(t *testing.T) {
	a := newTestAPI(t, withKeys)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu    sync.Mutex
		acked []string // ids acknowledged so far
		wg    sync.WaitGroup
		count atomic.Int64
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && i < 5000; i++ {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+"/v1/users/u"+strconv.Itoa(w)+"/events",
					strings.NewReader(fmt.Sprintf(`{"data":{"w":%d,"i":%d}}`, w, i)))
				req.Header.Set("Authorization", "Bearer "+testKey)
				resp, err := a.TS.Client().Do(req)
				if err != nil {
					return // cancelled
				}
				var out struct{ ID string }
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &out) != nil {
					t.Errorf("publish: %d %s", resp.StatusCode, body)
					return
				}
				mu.Lock()
				acked = append(acked, out.ID)
				mu.Unlock()
				count.Add(1)
			}
		})
	}
	deadline := time.After(10 * time.Second)
	for count.Load() < 1000 {
		select {
		case <-deadline:
			t.Fatal("publishers made no progress")
		case <-time.After(5 * time.Millisecond):
		}
	}
	mu.Lock()
	before := slices.Clone(acked)
	mu.Unlock()

	req, err := http.NewRequest(http.MethodGet, a.URL+"/v1/admin/backup", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := a.TS.Client().Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Content-Disposition"), `attachment; filename="sselog-`)
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	require.NoError(t, err)
	n, err := io.Copy(f, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, f.Close())
	assert.Equal(t, resp.ContentLength, n, "Content-Length is the exact size")
	cancel()
	wg.Wait()

	checkFile(t, path)
	lg, err := eventlog.Open(path, eventlog.Options{})
	require.NoError(t, err)
	defer lg.Close()
	held := map[string]bool{}
	for w := range 4 {
		for _, e := range eventlogtest.Events(t, lg, "u"+strconv.Itoa(w)) {
			held[e.ID.String()] = true
		}
	}
	for _, id := range before {
		require.True(t, held[id], "event %s acknowledged before the backup is missing from it", id)
	}
	t.Logf("backup of %d bytes holds %d events; %d were acknowledged before it started", n, len(held), len(before))
}

// TestMetrics: the scrape names every figure an operator watches, and the
// counters move with the traffic.
func TestMetrics(t *testing.T) {
	a := newTestAPI(t, withKeys)
	for range 3 {
		require.Equal(t, http.StatusCreated, a.publish(t, "/v1/users/alice/events", `{"data":1}`).Status)
	}
	require.Equal(t, http.StatusCreated, a.publish(t, "/v1/broadcast", `{"data":1}`).Status)
	require.Equal(t, http.StatusBadRequest, a.publish(t, "/v1/broadcast", `{"event":"gap","data":1}`).Status)

	// A subscriber that replays all four, then stays open.
	req, err := http.NewRequest(http.MethodGet, a.URL+"/v1/users/alice/stream?token="+token(t, "alice"), nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", eventlog.ZeroID.String())
	resp, err := a.TS.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	p := sse.NewParser(resp.Body)
	for range 5 { // connected + 4
		_, err := p.Next()
		require.NoError(t, err)
	}

	// The stream counts a frame once its write returns, which may be just
	// after the bytes reached us: scrape until it has caught up.
	var ans answer
	var m map[string]float64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ans = a.do(t, http.MethodGet, "/metrics", nil)
		m = parseMetrics(t, string(ans.Body))
		if m["sselog_delivered_events_total"] == 4 || time.Now().After(deadline) {
			break
		}
	}
	require.Equal(t, http.StatusOK, ans.Status)
	assert.Contains(t, ans.Header.Get("Content-Type"), "text/plain")
	want := map[string]float64{
		`sselog_published_events_total{target="user"}`:        3,
		`sselog_published_events_total{target="broadcast"}`:   1,
		`sselog_publish_duration_seconds_count{route="user"}`: 3,
		`sselog_http_errors_total{code="400"}`:                1,
		`sselog_subscribers`:                                  1,
		`sselog_replayed_events_total`:                        4,
		`sselog_delivered_events_total`:                       4,
		`sselog_events`:                                       4,
		`sselog_broadcast_events`:                             1,
		`sselog_users`:                                        1,
		`sselog_gaps_total`:                                   0,
		`sselog_slow_closed_total`:                            0,
		`sselog_compaction_deleted_events_total`:              0,
		`sselog_background_errors_total{task="move"}`:         0,
		`sselog_background_errors_total{task="retention"}`:    0,
		`sselog_background_errors_total{task="key-expiry"}`:   0,
		`sselog_damaged_records_total`:                        0,
		`sselog_idempotency_keys_expired_total`:               0,
	}
	for name, v := range want {
		got, ok := m[name]
		if assert.True(t, ok, "metric %s missing", name) {
			assert.Equal(t, v, got, name)
		}
	}
	assert.Positive(t, m["sselog_data_file_bytes"])
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", `sselog_publish_duration_seconds_bucket{route="user",le="+Inf"}`, "sselog_heartbeats_total"} {
		assert.Contains(t, m, name)
	}
}

// parseMetrics reads the Prometheus text format into name{labels} → value.
func parseMetrics(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	return out
}

// TestWebAssets: the demo page and the browser client come from the
// binary, with the right types.
func TestWebAssets(t *testing.T) {
	a := newTestAPI(t)
	for path, ctype := range map[string]string{"/": "text/html; charset=utf-8", "/sselog.js": "text/javascript; charset=utf-8"} {
		ans := a.do(t, http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, ans.Status, path)
		assert.Equal(t, ctype, ans.Header.Get("Content-Type"))
		assert.NotEmpty(t, ans.Body)
	}
	ans := a.do(t, http.MethodGet, "/index.html", nil)
	assert.Equal(t, http.StatusNotFound, ans.Status)
}

// TestHealth answers without touching the file.
func TestHealth(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.Version = "v9" })
	ans := a.do(t, http.MethodGet, "/healthz?details=1", nil, "Authorization: Bearer "+testKey)
	require.Equal(t, http.StatusOK, ans.Status)
	m := ans.JSON(t)
	assert.Equal(t, "ok", m["status"])
	assert.Equal(t, "v9", m["version"])
	head := a.do(t, http.MethodHead, "/healthz", nil)
	assert.Equal(t, http.StatusOK, head.Status)
	assert.Empty(t, head.Body)
}

// TestStoreErrorClassification: a refused event is the client's fault, any
// other store failure a 503, and a publisher that hung up stays what it is.
func TestStoreErrorClassification(t *testing.T) {
	assert.Equal(t, http.StatusServiceUnavailable, statusOf(storeError(eventlog.ErrClosed)))
	assert.Equal(t, http.StatusServiceUnavailable, statusOf(storeError(errors.New("disk full"))))
	assert.Equal(t, http.StatusBadRequest, statusOf(storeError(fmt.Errorf("x: %w", eventlog.ErrInvalidEvent))))
	assert.ErrorIs(t, storeError(context.Canceled), context.Canceled)
}
