package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHealthSaysOnlyStatus: /healthz tells anyone that the server is up,
// not its version, its newest id or when the last publish happened (only
// whether it runs with keys, which the demo page needs); ?details=1 with
// the publisher key says more.
func TestHealthSaysOnlyStatus(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.Version = "v9" })
	require.Equal(t, http.StatusCreated, a.publish(t, "/v1/users/alice/events", `{"data":1}`).Status)
	ans := a.do(t, http.MethodGet, "/healthz", nil)
	require.Equal(t, http.StatusOK, ans.Status)
	assert.Equal(t, map[string]any{"status": "ok", "auth": "keys"}, ans.JSON(t))

	ans = a.do(t, http.MethodGet, "/healthz?details=1", nil)
	require.Equal(t, http.StatusUnauthorized, ans.Status, "details need the publisher key")
	ans = a.do(t, http.MethodGet, "/healthz?details=1", nil, "Authorization: Bearer "+testKey)
	require.Equal(t, http.StatusOK, ans.Status)
	m := ans.JSON(t)
	assert.Equal(t, "v9", m["version"])
	assert.Equal(t, a.Log.Last().String(), m["lastEventId"])
	assert.Equal(t, "keys", m["auth"])

	open := newTestAPI(t)
	assert.Equal(t, map[string]any{"status": "ok", "auth": "open"}, open.do(t, http.MethodGet, "/healthz", nil).JSON(t))
}

// TestMetricsElsewhere: with metrics on their own listener, the public
// one does not serve them.
func TestMetricsElsewhere(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.MetricsElsewhere = true })
	ans := a.do(t, http.MethodGet, "/metrics", nil)
	assert.Equal(t, http.StatusNotFound, ans.Status)
	rec := httptest.NewRecorder()
	a.Srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), "sselog_events ")
}
