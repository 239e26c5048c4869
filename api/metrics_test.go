package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
)

// tripwireLog is the real log whose full count fails the test if called:
// a scrape must read counters, never walk every user bucket.
type tripwireLog struct {
	*eventlog.Log
	t *testing.T
}

func (l tripwireLog) Stats() (eventlog.Stats, error) {
	l.t.Error("a /metrics scrape walked the log (Stats)")
	return l.Log.Stats()
}

// TestMetricsReadCounters: /metrics reports the log's figures from
// counters kept current by the log, not from a walk per scrape.
func TestMetricsReadCounters(t *testing.T) {
	lg := eventlogtest.Open(t, eventlog.Options{})
	srv, err := New(tripwireLog{lg, t}, Config{})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, u := range []string{"alice", "bob", "carol", "alice"} {
		resp, err := http.Post(ts.URL+"/v1/users/"+u+"/events", "application/json", strings.NewReader(`{"data":1}`))
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
	}
	for range 3 {
		resp, err := http.Get(ts.URL + "/metrics")
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.NoError(t, err)
		assert.Contains(t, string(b), "\nsselog_users 3\n")
		assert.Contains(t, string(b), "\nsselog_events 4\n")
	}
}

// TestPublishedCountsStoredEventsOnly: sselog_published_events_total counts
// events stored; an idempotent repeat (which stores nothing) is counted in
// sselog_idempotent_repeats_total instead, through every publish route.
func TestPublishedCountsStoredEventsOnly(t *testing.T) {
	a := newTestAPI(t, withKeys)
	for range 3 {
		require.Equal(t, http.StatusCreated, a.publish(t, "/v1/users/alice/events", `{"data":1}`, "Idempotency-Key: once").Status)
		require.Equal(t, http.StatusCreated, a.publish(t, "/v1/broadcast", `{"data":1}`, "Idempotency-Key: once-all").Status) // a key names one request
		require.Equal(t, http.StatusCreated, a.publish(t, "/v1/events", `[{"user":"bob","data":1},{"data":2}]`, "Idempotency-Key: b1").Status)
	}
	require.Equal(t, http.StatusCreated, a.publish(t, "/v1/users/alice/events", `{"data":2}`).Status)
	m := parseMetrics(t, string(a.do(t, http.MethodGet, "/metrics", nil).Body))
	assert.Equal(t, float64(3), m[`sselog_published_events_total{target="user"}`], "alice twice, bob once")
	assert.Equal(t, float64(2), m[`sselog_published_events_total{target="broadcast"}`])
	assert.Equal(t, float64(8), m[`sselog_idempotent_repeats_total`], "two repeats of three keyed events, and of two in a batch")
	assert.Equal(t, float64(4), m[`sselog_commits_total`], "one per request that stored something, one after another; repeats commit nothing")
	st := a.stats(t)
	assert.Equal(t, float64(st.Events), m[`sselog_published_events_total{target="user"}`]+m[`sselog_published_events_total{target="broadcast"}`],
		"stored since start = held (nothing expired)")
}

// TestMetricsHelp: every sselog metric has a HELP line, and the ones whose
// meaning was easy to misread say it right.
func TestMetricsHelp(t *testing.T) {
	a := newTestAPI(t)
	body := string(a.do(t, http.MethodGet, "/metrics", nil).Body)
	help := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^# HELP (sselog_\w+) (.*)$`).FindAllStringSubmatch(body, -1) {
		help[m[1]] = m[2]
	}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (sselog_\w+) `).FindAllStringSubmatch(body, -1) {
		assert.NotEmpty(t, help[m[1]], "%s has no HELP", m[1])
	}
	assert.Contains(t, help["sselog_published_events_total"], "idempotent repeats excluded")
	assert.Contains(t, help["sselog_delivered_events_total"], "replayed ones included")
	assert.Contains(t, help["sselog_gaps_total"], "unknown")
	assert.Contains(t, help, "sselog_idempotent_repeats_total")
}
