package api

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenModeRefusesForeignHostAndOrigin: without keys the server trusts
// whoever reaches it, so it answers only requests addressed to a loopback
// name (a DNS-rebinding page names its own host) and refuses publishes
// from a page of another origin (a text/plain POST needs no preflight).
// With keys, neither check applies.
func TestOpenModeRefusesForeignHostAndOrigin(t *testing.T) {
	open := newTestAPI(t)
	keyed := newTestAPI(t, withKeys)
	port := open.URL[strings.LastIndex(open.URL, ":"):]
	send := func(t *testing.T, a *testAPI, method, path, host, origin, body string, header ...string) answer {
		t.Helper()
		req, err := http.NewRequest(method, a.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if body == "" {
			req.Body, req.ContentLength = nil, 0
		}
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for _, h := range header {
			k, v, _ := strings.Cut(h, ": ")
			req.Header.Set(k, v)
		}
		c := a.TS.Client()
		c.Timeout = 10 * time.Second // a stream opened by mistake fails here instead of hanging
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return answer{Status: resp.StatusCode, Header: resp.Header, Body: readBodyT(t, resp)}
	}
	cases := []struct {
		name         string
		method, path string
		host, origin string
		body         string
		status       int
	}{
		{"loopback IP host", "GET", "/v1/users/alice/events", "127.0.0.1" + port, "", "", 200},
		{"localhost host", "GET", "/v1/users/alice/events", "localhost" + port, "", "", 200},
		{"IPv6 loopback host", "GET", "/healthz", "[::1]" + port, "", "", 200},
		{"rebinding host, history", "GET", "/v1/users/alice/events", "evil.example" + port, "", "", 403},
		{"rebinding host, backup", "GET", "/v1/admin/backup", "evil.example", "", "", 403},
		{"rebinding host, stream", "GET", "/v1/users/alice/stream", "evil.example", "", "", 403},
		{"public IP host", "GET", "/v1/users/alice/events", "203.0.113.9" + port, "", "", 403},
		{"foreign origin publish", "POST", "/v1/users/alice/events", "", "http://evil.example", `{"data":1}`, 403},
		{"foreign origin broadcast", "POST", "/v1/broadcast", "", "https://evil.example", `{"data":1}`, 403},
		{"foreign origin batch", "POST", "/v1/events", "", "null", `[{"data":1}]`, 403},
		{"same origin publish", "POST", "/v1/users/alice/events", "", "http://127.0.0.1" + port, `{"data":1}`, 201},
		{"no origin publish", "POST", "/v1/users/alice/events", "", "", `{"data":1}`, 201},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := open.stats(t)
			ans := send(t, open, c.method, c.path, c.host, c.origin, c.body)
			require.Equal(t, c.status, ans.Status, "body %.200q", ans.Body)
			if c.status >= 400 {
				ans.ErrorMsg(t)
				assert.Equal(t, before, open.stats(t), "nothing stored")
			}
		})
	}
	t.Run("keyed mode checks keys, not hosts", func(t *testing.T) {
		ans := send(t, keyed, "GET", "/healthz", "sselog.example.com", "", "")
		assert.Equal(t, http.StatusOK, ans.Status)
		ans = send(t, keyed, "POST", "/v1/broadcast", "sselog.example.com", "https://app.example.com", `{"data":1}`, "Authorization: Bearer "+testKey)
		assert.Equal(t, http.StatusCreated, ans.Status)
	})
}

func readBodyT(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}
