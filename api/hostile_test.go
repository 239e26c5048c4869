package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// forged tokens for the user "alice", each refused for its own reason.
func forgedTokens(t *testing.T) map[string]string {
	t.Helper()
	now := time.Now()
	claims := func(exp time.Time) jwt.RegisteredClaims {
		return jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(exp)}
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.Claims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		require.NoError(t, err)
		return s
	}
	return map[string]string{
		"wrong secret": sign(jwt.SigningMethodHS256, []byte("not-the-secret"), claims(now.Add(time.Hour))),
		"alg none":     sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(now.Add(time.Hour))),
		"HS512":        sign(jwt.SigningMethodHS512, []byte(testSecret), claims(now.Add(time.Hour))),
		// Header says RS256, signature is HMAC with the shared secret: the
		// classic algorithm-confusion forgery.
		"RS256 header": handMade("RS256", `{"sub":"alice","exp":`+strconv.FormatInt(now.Add(time.Hour).Unix(), 10)+`}`, testSecret),
		"expired":      sign(jwt.SigningMethodHS256, []byte(testSecret), claims(now.Add(-2*tokenLeeway))),
		"no exp":       sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.RegisteredClaims{Subject: "alice"}),
		"bad subject":  sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.RegisteredClaims{Subject: "../alice", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}),
		"bob's token":  token(t, "bob"),
		"garbage":      "not.a.token",
		"oversized":    strings.Repeat("A", maxTokenLen+1),
	}
}

// unsizedReader hides its length, so the body goes out chunked and only
// the limit reader can stop it.
type unsizedReader struct{ r io.Reader }

func (u unsizedReader) Read(p []byte) (int, error) { return u.r.Read(p) }

// stalledReader yields its bytes, then blocks until stop is closed: a
// client that sends too much and then nothing, never ending its body.
type stalledReader struct {
	r    io.Reader
	stop <-chan struct{}
}

func (s stalledReader) Read(p []byte) (int, error) {
	if n, err := s.r.Read(p); err != io.EOF {
		return n, err
	}
	<-s.stop
	return 0, io.EOF
}

// TestHostileInputs: every hostile request is answered with its 4xx and a
// JSON error, and the store is exactly as it was.
func TestHostileInputs(t *testing.T) {
	a := newTestAPI(t, withKeys)
	_ = a.publish(t, "/v1/users/alice/events", `{"data":"seed"}`) // something to keep unchanged
	key := "Authorization: Bearer " + testKey
	big := bytes.Repeat([]byte("x"), 10<<20)
	deep := `{"data":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`

	type req struct {
		name   string
		method string
		path   string
		body   func() io.Reader
		header []string
		status int
	}
	body := func(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }
	cases := []req{
		{"CRLF in event name", "POST", "/v1/users/alice/events", body("{\"event\":\"x\\r\\nid: 1\",\"data\":1}"), []string{key}, 400},
		{"LF in event name", "POST", "/v1/users/alice/events", body("{\"event\":\"x\\ndata: 2\",\"data\":1}"), []string{key}, 400},
		{"NUL in event name", "POST", "/v1/users/alice/events", body("{\"event\":\"x\\u0000\",\"data\":1}"), []string{key}, 400},
		{"reserved name error", "POST", "/v1/users/alice/events", body(`{"event":"error","data":1}`), []string{key}, 400},
		{"reserved name connected", "POST", "/v1/broadcast", body(`{"event":"connected","data":1}`), []string{key}, 400},
		{"event name 129 bytes", "POST", "/v1/users/alice/events", body(`{"event":"` + strings.Repeat("e", 129) + `","data":1}`), []string{key}, 400},
		{"10 MB body", "POST", "/v1/users/alice/events", func() io.Reader { return bytes.NewReader(big) }, []string{key}, 413},
		{"10 MB chunked body", "POST", "/v1/users/alice/events", func() io.Reader { return unsizedReader{bytes.NewReader(big)} }, []string{key}, 413},
		{"10 MB batch", "POST", "/v1/events", func() io.Reader { return bytes.NewReader(big) }, []string{key}, 413},
		{"invalid UTF-8 data", "POST", "/v1/users/alice/events", body("{\"data\":\"\xff\xfe\"}"), []string{key}, 400},
		{"invalid UTF-8 name", "POST", "/v1/users/alice/events", body("{\"event\":\"\xc3\",\"data\":1}"), []string{key}, 400},
		{"non-JSON data", "POST", "/v1/users/alice/events", body(`{"data": hello}`), []string{key}, 400},
		{"data missing", "POST", "/v1/users/alice/events", body(`{"event":"x"}`), []string{key}, 400},
		{"two values", "POST", "/v1/users/alice/events", body(`{"data":1}{"data":2}`), []string{key}, 400},
		{"unknown field", "POST", "/v1/users/alice/events", body(`{"data":1,"id":"01J"}`), []string{key}, 400},
		{"field in other case", "POST", "/v1/users/alice/events", body(`{"Data":1}`), []string{key}, 400},
		{"body not an object", "POST", "/v1/users/alice/events", body(`[1]`), []string{key}, 400},
		{"empty body", "POST", "/v1/users/alice/events", body(``), []string{key}, 400},
		{"10,000 nested arrays", "POST", "/v1/users/alice/events", body(deep), []string{key}, 400},
		{"traversal %2f in user (stream)", "GET", "/v1/users/..%2f..%2fetc/stream", nil, nil, 404},
		{"traversal %2f in user (publish)", "POST", "/v1/users/..%2f..%2fetc%2fpasswd/events", body(`{"data":1}`), []string{key}, 404},
		{"user ..", "POST", "/v1/users/%2e%2e/events", body(`{"data":1}`), []string{key}, 400},
		{"user with space", "POST", "/v1/users/a%20b/events", body(`{"data":1}`), []string{key}, 400},
		{"user 129 bytes", "POST", "/v1/users/" + strings.Repeat("u", 129) + "/events", body(`{"data":1}`), []string{key}, 400},
		{"batch user traversal", "POST", "/v1/events", body(`[{"user":"../x","data":1}]`), []string{key}, 400},
		{"bad Idempotency-Key", "POST", "/v1/users/alice/events", body(`{"data":1}`), []string{key, "Idempotency-Key: a b"}, 400},
		{"missing publisher key", "POST", "/v1/users/alice/events", body(`{"data":1}`), nil, 401},
		{"wrong publisher key", "POST", "/v1/users/alice/events", body(`{"data":1}`), []string{"Authorization: Bearer nope"}, 401},
		{"subscriber token as publisher key", "POST", "/v1/broadcast", body(`{"data":1}`), []string{"Authorization: Bearer " + token(t, "alice")}, 401},
		{"backup without key", "GET", "/v1/admin/backup", nil, nil, 401},
		{"backup wrong key", "GET", "/v1/admin/backup", nil, []string{"Authorization: Bearer " + testKey + "x"}, 401},
		{"stream without token", "GET", "/v1/users/alice/stream", nil, nil, 401},
		{"history without token", "GET", "/v1/users/alice/events", nil, nil, 401},
	}
	for name, tok := range forgedTokens(t) {
		status := http.StatusUnauthorized
		if name == "bob's token" {
			status = http.StatusForbidden // valid, for another user
		}
		cases = append(cases,
			req{"stream, " + name, "GET", "/v1/users/alice/stream?token=" + tok, nil, nil, status},
			req{"history, " + name, "GET", "/v1/users/alice/events", nil, []string{"Authorization: Bearer " + tok}, status},
			req{"alias, " + name, "GET", "/api/events?userId=alice", nil, []string{"Cookie: " + TokenCookie + "=" + tok}, status},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := a.stats(t)
			var b io.Reader
			if c.body != nil {
				b = c.body()
			}
			ans := a.do(t, c.method, c.path, b, c.header...)
			assert.Equal(t, c.status, ans.Status, "body %s", ans.Body)
			msg := ans.ErrorMsg(t)
			assert.NotContains(t, msg, "\n")
			assert.Equal(t, before, a.stats(t), "the store changed")
		})
	}
}

// TestRefusalDoesNotReadOn: a chunked body over the limit is refused with
// 413 as soon as the limit is passed, even when the client then stalls
// without ending it. Closing such a body reads on into the rest (up to
// 256 KiB): the refusal waited for the read deadline, an hour here, while
// the client waited for its answer.
func TestRefusalDoesNotReadOn(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.ReadTimeout = time.Hour })
	over := bytes.Repeat([]byte("x"), int(2*a.Srv.cfg.MaxBody)) // past the limit, less than what a close reads on
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The body stalls until the request ends: the transport waits for
	// its body's Read to return before it gives up on the request.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+"/v1/users/alice/events",
		unsizedReader{stalledReader{bytes.NewReader(over), ctx.Done()}})
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := a.TS.Client().Do(req)
	require.NoError(t, err, "no answer while the client stalled")
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

// TestStatuses: one request per error status of the contract, each with a
// JSON body.
func TestStatuses(t *testing.T) {
	a := newTestAPI(t, withKeys)
	key := "Authorization: Bearer " + testKey
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		header []string
		status int
		says   string
	}{
		{"unknown route", "GET", "/v2/nothing", "", nil, 404, "no route"},
		{"wrong method", "DELETE", "/v1/users/alice/events", "", []string{key}, 405, "does not accept DELETE"},
		{"wrong method on stream", "POST", "/v1/users/alice/stream", "", []string{key}, 405, "GET"},
		{"body too large", "POST", "/v1/broadcast", `{"data":"` + strings.Repeat("a", DefaultMaxBody) + `"}`, []string{key}, 413, "too large"},
		{"bad after", "GET", "/v1/users/alice/events?after=not-an-id", "", []string{"Authorization: Bearer " + token(t, "alice")}, 400, "after="},
		{"bad limit", "GET", "/v1/users/alice/events?limit=0", "", []string{"Authorization: Bearer " + token(t, "alice")}, 400, "limit="},
		{"limit too big", "GET", "/v1/users/alice/events?limit=10001", "", []string{"Authorization: Bearer " + token(t, "alice")}, 400, "limit="},
		{"alias without userId", "GET", "/api/events", "", nil, 400, "userId required"},
		{"missing credentials", "GET", "/v1/users/alice/stream", "", nil, 401, "token required"},
		{"another user's token", "GET", "/v1/users/alice/stream?token=" + token(t, "bob"), "", nil, 403, "not valid for this user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ans := a.do(t, c.method, c.path, strings.NewReader(c.body), c.header...)
			require.Equal(t, c.status, ans.Status, "body %s", ans.Body)
			assert.Contains(t, ans.ErrorMsg(t), c.says)
			if c.status == http.StatusUnauthorized {
				assert.Contains(t, ans.Header.Get("WWW-Authenticate"), "Bearer")
			}
		})
	}

	t.Run("store unavailable", func(t *testing.T) {
		b := newTestAPI(t, withKeys)
		require.NoError(t, b.Log.Close())
		ans := b.publish(t, "/v1/users/alice/events", `{"data":1}`)
		require.Equal(t, http.StatusServiceUnavailable, ans.Status)
		assert.Equal(t, "store unavailable", ans.ErrorMsg(t), "a 503 says little")
		ans = b.publish(t, "/v1/events", `[{"data":1}]`)
		require.Equal(t, http.StatusServiceUnavailable, ans.Status)
	})
}
