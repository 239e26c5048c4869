package api

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// concrete turns a route pattern into a path a test can request.
func concrete(path string) string {
	path = strings.ReplaceAll(path, ":user", "alice")
	if path == "/api/events" {
		path += "?userId=alice"
	}
	return path
}

// credentials returns the header a GET of path needs on a keyed server.
func credentials(t *testing.T, path string) string {
	switch {
	case strings.HasSuffix(path, "/stream"), strings.HasSuffix(path, "/events") && strings.HasPrefix(path, "/v1/users/"), path == "/api/events":
		return "Authorization: Bearer " + token(t, "alice")
	default:
		return "Authorization: Bearer " + testKey
	}
}

// TestHeadOnEveryGetRoute: HEAD answers every GET route as GET would —
// same status and Content-Type, no body — and returns at once, streams
// included (a HEAD must not hold a subscriber open).
func TestHeadOnEveryGetRoute(t *testing.T) {
	a := newTestAPI(t, withKeys)
	var gets int
	for _, rt := range a.Srv.routes() {
		if rt.method != http.MethodGet {
			continue
		}
		gets++
		path := concrete(rt.path)
		t.Run(path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			get := func(method string) (*http.Response, []byte) {
				req, err := http.NewRequestWithContext(ctx, method, a.URL+path, nil)
				require.NoError(t, err)
				k, v, _ := strings.Cut(credentials(t, rt.path), ": ")
				req.Header.Set(k, v)
				resp, err := a.TS.Client().Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				if method == http.MethodGet && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
					return resp, nil // a stream: its headers are the answer
				}
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				return resp, b
			}
			head, body := get(http.MethodHead)
			want, _ := get(http.MethodGet)
			assert.Equal(t, want.StatusCode, head.StatusCode)
			assert.Less(t, head.StatusCode, 300, "a GET route answers HEAD with success")
			assert.Equal(t, want.Header.Get("Content-Type"), head.Header.Get("Content-Type"))
			assert.Empty(t, body)
		})
	}
	assert.GreaterOrEqual(t, gets, 9)
	testkit.WaitFor(t, 5*time.Second, "no stream left open by a HEAD", func() bool { return a.Srv.hub.Streams("") == 0 })
}

// TestFavicon: browsers ask for /favicon.ico on every page; it is not a 404
// (which would also count as an error in the metrics).
func TestFavicon(t *testing.T) {
	a := newTestAPI(t)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		ans := a.do(t, method, "/favicon.ico", nil)
		assert.Less(t, ans.Status, 300, method)
		assert.Contains(t, ans.Header.Get("Cache-Control"), "max-age", method)
	}
	m := parseMetrics(t, string(a.do(t, http.MethodGet, "/metrics", nil).Body))
	assert.Zero(t, m[`sselog_http_errors_total{code="404"}`])
}
