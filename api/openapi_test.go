package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openAPIDoc is the part of the description the tests read.
type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		Responses map[string]struct {
			Description string `json:"description"`
		} `json:"responses"`
	} `json:"paths"`
}

func loadOpenAPI(t *testing.T, b []byte) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	require.NoError(t, json.Unmarshal(b, &doc))
	return doc
}

var pathParam = regexp.MustCompile(`\{(\w+)\}`)

// documented returns "METHOD /path" (router syntax) → documented statuses.
func (d openAPIDoc) documented() map[string][]int {
	out := map[string][]int{}
	for path, ops := range d.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + pathParam.ReplaceAllString(path, ":$1")
			out[key] = []int{}
			for code := range op.Responses {
				n, _ := strconv.Atoi(code)
				out[key] = append(out[key], n)
			}
		}
	}
	return out
}

// TestOpenAPIMatchesRouter: the description served at /openapi.json is the
// one in the repository, is OpenAPI 3.1, documents every route the router
// has and no route it lacks, and every status a route answers — to good
// requests and to every kind of bad one, and once the store is closed — is
// documented for it.
func TestOpenAPIMatchesRouter(t *testing.T) {
	a := newTestAPI(t, withKeys)
	ans := a.do(t, http.MethodGet, "/openapi.json", nil)
	require.Equal(t, http.StatusOK, ans.Status)
	assert.Contains(t, ans.Header.Get("Content-Type"), "application/json")
	inRepo, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	assert.Equal(t, string(inRepo), string(ans.Body), "served = api/openapi.json")
	doc := loadOpenAPI(t, ans.Body)
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	for path, ops := range doc.Paths {
		for method, op := range ops {
			for code, r := range op.Responses {
				assert.NotEmpty(t, r.Description, "%s %s %s: a response needs a description", method, path, code)
			}
		}
	}

	documented := doc.documented()
	routed := map[string]bool{}
	for _, rt := range a.Srv.headRoutes(a.Srv.routes()) {
		key := rt.method + " " + rt.path
		routed[key] = true
		assert.Contains(t, documented, key, "route not documented")
	}
	for key := range documented {
		assert.True(t, routed[key], "documented route %s does not exist", key)
	}

	// Every status each route answers is documented for it.
	alice, bob := token(t, "alice"), token(t, "bob")
	pub := "Authorization: Bearer " + testKey
	big := `{"data":"` + strings.Repeat("x", DefaultMaxBody) + `"}`
	type probe struct {
		path, body string
		header     []string
	}
	probes := func(rt route) []probe {
		path := concrete(rt.path)
		var ps []probe
		switch {
		case rt.method == http.MethodPost:
			body := `{"event":"n","data":{"a":1}}`
			if rt.path == "/v1/events" {
				body = `[{"user":"alice","data":1},{"data":2}]`
			}
			ps = append(ps, probe{path, body, []string{pub}}, probe{path, body, nil},
				probe{path, body, []string{"Authorization: Bearer wrong"}}, probe{path, "", []string{pub}},
				probe{path, "{", []string{pub}}, probe{path, `{"event":"gap","data":1}`, []string{pub}},
				probe{path, `[{"user":"","data":1}]`, []string{pub}}, probe{path, big, []string{pub}},
				probe{path, body, []string{pub, "Idempotency-Key: " + strings.Repeat("k", 300)}})
		case strings.Contains(rt.path, "/stream") || rt.path == "/api/events" || rt.path == "/v1/users/:user/events":
			ps = append(ps, probe{path, "", []string{"Authorization: Bearer " + alice}}, probe{path, "", nil},
				probe{path, "", []string{"Authorization: Bearer " + bob}}, probe{path, "", []string{"Authorization: Bearer forged"}},
				probe{path + sep(path) + "after=bad&limit=0", "", []string{"Authorization: Bearer " + alice}},
				probe{path + sep(path) + "lastEventId=bad", "", []string{"Authorization: Bearer " + alice}})
		default:
			ps = append(ps, probe{path, "", []string{pub}}, probe{path, "", nil}, probe{path, "", []string{"Authorization: Bearer wrong"}})
		}
		if strings.Contains(rt.path, ":user") {
			ps = append(ps, probe{strings.Replace(path, "alice", "a%20b", 1), ps[0].body, ps[0].header})
		}
		if rt.path == "/api/events" {
			ps = append(ps, probe{"/api/events", "", []string{"Authorization: Bearer " + alice}})
		}
		if rt.method == http.MethodGet || rt.method == http.MethodHead {
			ps = append(ps, probe{path, "a body", ps[0].header}) // 400: a GET takes no body
		}
		if rt.path == "/healthz" {
			ps = append(ps, probe{"/healthz?details=1", "", nil}, probe{"/healthz?details=1", "", []string{"Authorization: Bearer wrong"}},
				probe{"/healthz?details=1", "", []string{pub}})
		}
		return ps
	}
	check := func(a *testAPI, closed bool, extra ...string) {
		for _, rt := range a.Srv.headRoutes(a.Srv.routes()) {
			key := rt.method + " " + rt.path
			for _, p := range probes(rt) {
				if len(extra) > 0 && len(p.body) > 4096 {
					// Refused before its body is read, the request's
					// connection closes while a big body is still being
					// sent: the client sees a reset, not a status.
					continue
				}
				status, err := statusOfProbe(t, a, rt.method, p.path, p.body, append(p.header, extra...))
				if err != nil && len(p.body) > 4096 && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
					// Refused before its body was read (an early
					// answer closes the connection): the client may see
					// the reset, or a broken pipe while still sending,
					// before the status.
					continue
				}
				require.NoError(t, err)
				assert.Contains(t, documented[key], status, "%s answered %s %s (closed store %v, headers %q) with an undocumented status",
					key, rt.method, p.path, closed, append(p.header, extra...))
			}
		}
	}
	// Streams over the cap: one open stream of alice's fills it.
	capped := newTestAPI(t, withKeys, func(c *Config) { c.MaxStreamsPerUser = 1 })
	held := openStream(t, capped, "/v1/users/alice/stream", "Authorization: Bearer "+alice)
	check(capped, false)
	held()
	// Open mode: a foreign Host or Origin.
	open := newTestAPI(t)
	check(open, false)
	check(open, false, "Host: example.com")
	check(open, false, "Origin: https://evil.example")

	check(a, false)
	require.NoError(t, a.Log.Close())
	check(a, true)
}

// openStream opens a stream on a and returns the function that closes it.
func openStream(t *testing.T, a *testAPI, path string, header ...string) (closeIt func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+path, nil)
	require.NoError(t, err)
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := a.TS.Client().Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return func() {
		cancel()
		_ = resp.Body.Close()
	}
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// statusOfProbe sends one request and returns its status, without reading
// a stream's body.
func statusOfProbe(t *testing.T, a *testAPI, method, path, body string, header []string) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := a.TS.Client().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, nil
}
