package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// handMade builds an HMAC-SHA256-signed token with the given header alg,
// so the tests can tell "refused for its alg" from "built wrong".
func handMade(alg, payload, secret string) string {
	return handMadeHeader(`{"alg":"`+alg+`","typ":"JWT"}`, payload, secret)
}

// handMadeHeader is handMade with the whole header given.
func handMadeHeader(header, payload, secret string) string {
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64([]byte(header)) + "." + b64([]byte(payload))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(input))
	return input + "." + b64(mac.Sum(nil))
}

func TestParseToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	cases := []struct {
		name string
		tok  string
		user string // "" = refused
	}{
		{"issued", must(IssueToken(testSecret, "alice", time.Minute, now)), "alice"},
		{"hand-made HS256", handMade("HS256", `{"sub":"alice","exp":`+exp(time.Hour)+`}`, testSecret), "alice"},
		{"hand-made RS256 header", handMade("RS256", `{"sub":"alice","exp":`+exp(time.Hour)+`}`, testSecret), ""},
		{"hand-made none", handMade("none", `{"sub":"alice","exp":`+exp(time.Hour)+`}`, testSecret), ""},
		{"expired within leeway", handMade("HS256", `{"sub":"alice","exp":`+exp(-30*time.Second)+`}`, testSecret), "alice"},
		{"expired past leeway", handMade("HS256", `{"sub":"alice","exp":`+exp(-61*time.Second)+`}`, testSecret), ""},
		{"no exp", handMade("HS256", `{"sub":"alice"}`, testSecret), ""},
		{"not yet valid", handMade("HS256", `{"sub":"alice","exp":`+exp(time.Hour)+`,"nbf":`+exp(10*time.Minute)+`}`, testSecret), ""},
		{"no sub", handMade("HS256", `{"exp":`+exp(time.Hour)+`}`, testSecret), ""},
		{"sub with slash", handMade("HS256", `{"sub":"a/b","exp":`+exp(time.Hour)+`}`, testSecret), ""},
		{"wrong secret", handMade("HS256", `{"sub":"alice","exp":`+exp(time.Hour)+`}`, "other"), ""},
		{"empty", "", ""},
		{"two dots", "..", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			user, _, err := parseToken(tokenRules{secret: []byte(testSecret)}, c.tok, now)
			if c.user == "" {
				require.Error(t, err)
				assert.Equal(t, http.StatusUnauthorized, statusOf(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.user, user)
		})
	}
}

func strconvI(n int64) string { return strconv.FormatInt(n, 10) }

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func TestIssueTokenRefuses(t *testing.T) {
	now := time.Now()
	for name, f := range map[string]func() (string, error){
		"no secret":    func() (string, error) { return IssueToken("", "alice", time.Hour, now) },
		"bad user":     func() (string, error) { return IssueToken(testSecret, "a b", time.Hour, now) },
		"ttl zero":     func() (string, error) { return IssueToken(testSecret, "alice", 0, now) },
		"ttl negative": func() (string, error) { return IssueToken(testSecret, "alice", -time.Hour, now) },
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f()
			require.Error(t, err)
		})
	}
}

// TestTokenSources: a token works from the header, the query and the
// cookie; the header wins over a stale cookie.
func TestTokenSources(t *testing.T) {
	a := newTestAPI(t, withKeys)
	_, err := a.Log.Append(context.Background(), eventlog.Input{User: "alice", Data: []byte(`1`)})
	require.NoError(t, err)
	good, bobs := token(t, "alice"), token(t, "bob")
	cases := []struct {
		name   string
		query  string
		header []string
		status int
	}{
		{"header", "", []string{"Authorization: Bearer " + good}, 200},
		{"header, lower-case scheme", "", []string{"Authorization: bearer " + good}, 200},
		{"query", "?token=" + good, nil, 200},
		{"cookie", "", []string{"Cookie: " + TokenCookie + "=" + good}, 200},
		{"header beats stale cookie", "", []string{"Authorization: Bearer " + good, "Cookie: " + TokenCookie + "=" + bobs}, 200},
		{"query beats stale cookie", "?token=" + good, []string{"Cookie: " + TokenCookie + "=" + bobs}, 200},
		{"other user in header", "?token=" + good, []string{"Authorization: Bearer " + bobs}, 403},
		{"publisher key is not a token", "", []string{"Authorization: Bearer " + testKey}, 401},
		{"basic auth is not a token", "", []string{"Authorization: Basic YWxpY2U6eA=="}, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ans := a.do(t, http.MethodGet, "/v1/users/alice/events"+c.query, nil, c.header...)
			require.Equal(t, c.status, ans.Status, "body %s", ans.Body)
			if c.status == 200 {
				assert.Len(t, ans.JSON(t)["events"], 1)
			}
		})
	}
}

// TestStreamAuth: the stream route and its alias open for the token's own
// user only.
func TestStreamAuth(t *testing.T) {
	a := newTestAPI(t, withKeys)
	for _, path := range []string{"/v1/users/alice/stream?token=", "/api/events?userId=alice&token="} {
		t.Run(path, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, a.URL+path+token(t, "alice"), nil)
			require.NoError(t, err)
			resp, err := a.TS.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"))
			ans := a.do(t, http.MethodGet, path+token(t, "bob"), nil)
			require.Equal(t, http.StatusForbidden, ans.Status)
		})
	}
}

// TestOneKeyRefused: a publisher key without a subscriber secret (or the
// reverse) is a configuration error, not a half-open server.
func TestOneKeyRefused(t *testing.T) {
	lg, err := eventlog.Open(t.TempDir()+"/x.db", eventlog.Options{})
	require.NoError(t, err)
	defer lg.Close()
	_, err = New(lg, Config{PublisherKey: "k"})
	require.ErrorContains(t, err, "come together")
	_, err = New(lg, Config{SubscriberSecret: "s"})
	require.ErrorContains(t, err, "come together")
}

// TestAuthStatusesRFC6750: a token that is sent but not accepted (expired,
// forged, malformed, alg none) and a wrong publisher key are 401 with
// WWW-Authenticate: Bearer error="invalid_token", so a client knows to get
// a fresh credential; a valid token for another user is 403; no
// credential at all is 401 without an error code.
func TestAuthStatusesRFC6750(t *testing.T) {
	a := newTestAPI(t, withKeys)
	forged := forgedTokens(t)
	cases := []struct {
		name   string
		method string
		path   string
		header []string
		status int
		auth   string // WWW-Authenticate must contain this ("" = no header)
	}{
		{"expired token", "GET", "/v1/users/alice/events", []string{"Authorization: Bearer " + forged["expired"]}, 401, `error="invalid_token"`},
		{"forged token", "GET", "/v1/users/alice/stream?token=" + forged["wrong secret"], nil, 401, `error="invalid_token"`},
		{"malformed token", "GET", "/v1/users/alice/events", []string{"Cookie: " + TokenCookie + "=not.a.token"}, 401, `error="invalid_token"`},
		{"alg none", "GET", "/v1/users/alice/stream?token=" + forged["alg none"], nil, 401, `error="invalid_token"`},
		{"oversized token", "GET", "/v1/users/alice/events", []string{"Authorization: Bearer " + forged["oversized"]}, 401, `error="invalid_token"`},
		{"no token", "GET", "/v1/users/alice/events", nil, 401, `Bearer realm="sselog"`},
		{"another user's valid token", "GET", "/v1/users/alice/stream?token=" + token(t, "bob"), nil, 403, ""},
		{"another user's valid token, history", "GET", "/v1/users/alice/events", []string{"Authorization: Bearer " + token(t, "bob")}, 403, ""},
		{"missing publisher key", "POST", "/v1/broadcast", nil, 401, `Bearer realm="sselog"`},
		{"wrong publisher key", "POST", "/v1/broadcast", []string{"Authorization: Bearer nope"}, 401, `error="invalid_token"`},
		{"wrong key on backup", "GET", "/v1/admin/backup", []string{"Authorization: Bearer " + testKey + "x"}, 401, `error="invalid_token"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.method == http.MethodPost {
				body = strings.NewReader(`{"data":1}`)
			}
			ans := a.do(t, c.method, c.path, body, c.header...)
			require.Equal(t, c.status, ans.Status, "body %s", ans.Body)
			ans.ErrorMsg(t)
			if c.auth == "" {
				assert.Empty(t, ans.Header.Get("WWW-Authenticate"))
				return
			}
			assert.Contains(t, ans.Header.Get("WWW-Authenticate"), c.auth)
			if !strings.Contains(c.auth, "error=") {
				assert.NotContains(t, ans.Header.Get("WWW-Authenticate"), "error=", "no credential sent, no error code (RFC 6750 3.1)")
			}
		})
	}
}

// TestTokenStatuses: RFC 6750. An expired, forged or malformed token is 401
// with WWW-Authenticate naming invalid_token, so a client knows to fetch a
// new token and retry; a valid token for another user is 403, final.
func TestTokenStatuses(t *testing.T) {
	a := newTestAPI(t, withKeys)
	expired, err := IssueToken(testSecret, "alice", time.Minute, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	cases := []struct {
		name, query string
		status      int
		challenge   string
	}{
		{"expired", "?token=" + expired, 401, `error="invalid_token"`},
		{"forged", "?token=" + handMade("HS256", `{"sub":"alice","exp":9999999999}`, "other"), 401, `error="invalid_token"`},
		{"malformed", "?token=abc", 401, `error="invalid_token"`},
		{"missing", "", 401, `Bearer realm="sselog"`},
		{"another user's", "?token=" + token(t, "bob"), 403, ""},
	}
	for _, c := range cases {
		for _, path := range []string{"/v1/users/alice/stream", "/v1/users/alice/events"} {
			t.Run(c.name+" "+path, func(t *testing.T) {
				ans := a.do(t, http.MethodGet, path+c.query, nil)
				require.Equal(t, c.status, ans.Status, "body %s", ans.Body)
				assert.NotEmpty(t, ans.ErrorMsg(t))
				if c.challenge == "" {
					assert.Empty(t, ans.Header.Get("WWW-Authenticate"))
				} else {
					assert.Contains(t, ans.Header.Get("WWW-Authenticate"), c.challenge)
				}
			})
		}
	}
}
