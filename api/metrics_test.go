package api

import (
	"io"
	"net/http"
	"net/http/httptest"
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
