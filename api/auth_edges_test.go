package api

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exactLen is a valid HS256 token for alice of exactly n bytes, padded
// with a claim nobody reads.
func exactLen(t *testing.T, n int, exp string) string {
	t.Helper()
	for pad := range n {
		for kid := range 4 {
			header := `{"alg":"HS256","typ":"JWT","kid":"` + strings.Repeat("k", kid) + `"}`
			tok := handMadeHeader(header, `{"sub":"alice","exp":`+exp+`,"pad":"`+strings.Repeat("p", pad)+`"}`, testSecret)
			if len(tok) == n {
				return tok
			}
		}
	}
	t.Fatalf("no token of %d bytes", n)
	return ""
}

// TestTokenEdges: the boundaries of what a subscriber token may be —
// its length, its numeric claims, its algorithm.
func TestTokenEdges(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	n := func(d time.Duration) string { return strconvI(now.Add(d).Unix()) }
	hs512 := func(payload string) string {
		b64 := base64.RawURLEncoding.EncodeToString
		input := b64([]byte(`{"alg":"HS512","typ":"JWT"}`)) + "." + b64([]byte(payload))
		mac := hmac.New(sha512.New, []byte(testSecret))
		mac.Write([]byte(input))
		return input + "." + b64(mac.Sum(nil))
	}
	claims := func(extra string) string { return `{"sub":"alice","exp":` + n(time.Hour) + extra + `}` }
	cases := []struct {
		name string
		tok  string
		ok   bool
	}{
		{"exactly the longest accepted", exactLen(t, maxTokenLen, n(time.Hour)), true},
		{"one byte longer", exactLen(t, maxTokenLen+1, n(time.Hour)), false},
		{"iat as a string", handMade("HS256", claims(`,"iat":"`+n(-time.Hour)+`"`), testSecret), false},
		{"nbf as a string", handMade("HS256", claims(`,"nbf":"`+n(-time.Hour)+`"`), testSecret), false},
		{"nbf a negative number", handMade("HS256", claims(`,"nbf":-1`), testSecret), true},
		{"nbf starting with 9", handMade("HS256", claims(`,"nbf":900000000`), testSecret), true},
		{"HS512 with the right secret", hs512(claims("")), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			user, _, err := parseToken(tokenRules{secret: []byte(testSecret)}, c.tok, now)
			if !c.ok {
				require.Error(t, err)
				assert.Equal(t, http.StatusUnauthorized, statusOf(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "alice", user)
		})
	}
}

// TestTokenRefusalSaysWhy: a refused token's error names the reason, so
// the client's JSON error tells an expired token from a forged one.
func TestTokenRefusalSaysWhy(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	n := func(d time.Duration) string { return strconvI(now.Add(d).Unix()) }
	for tok, why := range map[string]string{
		handMade("HS256", `{"sub":"alice","exp":`+n(-time.Hour)+`}`, testSecret):                       "expired",
		handMade("HS256", `{"sub":"alice","exp":`+n(time.Hour)+`,"iat":`+n(time.Hour)+`}`, testSecret): "future",
		handMade("HS256", `{"sub":"alice"}`, testSecret):                                               "required claim",
	} {
		_, _, err := parseToken(tokenRules{secret: []byte(testSecret)}, tok, now)
		require.Error(t, err)
		assert.Contains(t, err.Error(), why)
	}
}

// TestBearerHeader: the scheme is case-insensitive and the credentials
// are trimmed; anything else is no bearer credential.
func TestBearerHeader(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc":     "abc",
		"bEaReR abc":     "abc",
		"Bearer   abc  ": "abc",
		"Bearer ":        "",
		"Basic abc":      "",
		"Bearerabc":      "",
		"":               "",
		"Bearer a b":     "a b",
	} {
		r, err := http.NewRequest(http.MethodGet, "/", nil)
		require.NoError(t, err)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		assert.Equal(t, want, bearer(r), "header %q", header)
	}
}

// TestIssueTokenClaims: an issued token names its user, when it was
// issued and when it expires.
func TestIssueTokenClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, err := IssueToken(testSecret, "alice", time.Minute, now)
	require.NoError(t, err)
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	assert.JSONEq(t, `{"sub":"alice","iat":1800000000,"exp":1800000060}`, string(payload))
}
