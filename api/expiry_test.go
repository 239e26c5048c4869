package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// TestStreamEndsWhenTokenExpires: a stream opened with a token ends
// cleanly (EOF, not a reset) once the token's exp plus the leeway has
// passed, and the client resumes exactly with a fresh token.
func TestStreamEndsWhenTokenExpires(t *testing.T) {
	// The server's clock runs 59 s ahead of the issuer's, so a token that
	// expires in 2 s is still accepted (leeway 60 s) and ends ~3 s from now.
	a := newTestAPI(t, withKeys, func(c *Config) { c.Now = func() time.Time { return time.Now().Add(59 * time.Second) } })
	tok, err := IssueToken(testSecret, "alice", 2*time.Second, time.Now())
	require.NoError(t, err)
	sub := testkit.Subscribe(t, a.URL+"/v1/users/alice/stream?token="+tok, nil)
	require.Equal(t, "connected", sub.Next(5*time.Second).Event)
	first := a.publish(t, "/v1/users/alice/events", `{"data":1}`).JSON(t)["id"].(string)
	require.Equal(t, first, sub.NextData(5*time.Second).ID)
	sub.WaitEnd(20 * time.Second)

	// A fresh token resumes after the last id seen, nothing lost or repeated.
	second := a.publish(t, "/v1/users/alice/events", `{"data":2}`).JSON(t)["id"].(string)
	again := testkit.Subscribe(t, a.URL+"/v1/users/alice/stream?token="+token(t, "alice"), http.Header{"Last-Event-ID": {first}})
	require.Equal(t, "connected", again.Next(5*time.Second).Event)
	got := again.NextData(5 * time.Second)
	assert.Equal(t, second, got.ID)
	assert.Equal(t, "2", strings.TrimSpace(got.Data))
}

// TestTokenClaimsChecked: crit headers, a string exp, a future iat and,
// when configured, a missing or wrong aud or iss are refused with 401.
func TestTokenClaimsChecked(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	n := func(d time.Duration) string { return strconvI(now.Add(d).Unix()) }
	rules := tokenRules{secret: []byte(testSecret)}
	strict := tokenRules{secret: []byte(testSecret), audience: "sselog", issuer: "https://app.example"}
	withHeader := func(header, payload string) string { return handMadeHeader(header, payload, testSecret) }
	cases := []struct {
		name  string
		rules tokenRules
		tok   string
		ok    bool
	}{
		{"plain", rules, handMade("HS256", `{"sub":"alice","exp":`+n(time.Hour)+`}`, testSecret), true},
		{"crit header", rules, withHeader(`{"alg":"HS256","typ":"JWT","crit":["exp"],"exp":1}`, `{"sub":"alice","exp":`+n(time.Hour)+`}`), false},
		{"string exp", rules, handMade("HS256", `{"sub":"alice","exp":"`+n(time.Hour)+`"}`, testSecret), false},
		{"iat within leeway", rules, handMade("HS256", `{"sub":"alice","exp":`+n(time.Hour)+`,"iat":`+n(30*time.Second)+`}`, testSecret), true},
		{"iat in the future", rules, handMade("HS256", `{"sub":"alice","exp":`+n(time.Hour)+`,"iat":`+n(10*time.Minute)+`}`, testSecret), false},
		{"aud and iss as configured", strict, handMade("HS256", `{"sub":"alice","exp":`+n(time.Hour)+`,"aud":"sselog","iss":"https://app.example"}`, testSecret), true},
		{"aud in a list", strict, handMade("HS256", `{"sub":"alice","exp":`+n(time.Hour)+`,"aud":["x","sselog"],"iss":"https://app.example"}`, testSecret), true},
		{"aud missing", strict, handMade("HS256", `{"sub":"alice","exp":`+n(time.Hour)+`,"iss":"https://app.example"}`, testSecret), false},
		{"aud wrong", strict, handMade("HS256", `{"sub":"alice","exp":`+n(time.Hour)+`,"aud":"other","iss":"https://app.example"}`, testSecret), false},
		{"iss missing", strict, handMade("HS256", `{"sub":"alice","exp":`+n(time.Hour)+`,"aud":"sselog"}`, testSecret), false},
		{"iss wrong", strict, handMade("HS256", `{"sub":"alice","exp":`+n(time.Hour)+`,"aud":"sselog","iss":"https://evil.example"}`, testSecret), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			user, _, err := parseToken(c.rules, c.tok, now)
			if !c.ok {
				require.Error(t, err)
				assert.Equal(t, http.StatusUnauthorized, statusOf(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "alice", user)
		})
	}

	t.Run("through the server", func(t *testing.T) {
		a := newTestAPI(t, withKeys, func(c *Config) { c.TokenAudience = "sselog" })
		ans := a.do(t, http.MethodGet, "/v1/users/alice/events", nil, "Authorization: Bearer "+token(t, "alice"))
		require.Equal(t, http.StatusUnauthorized, ans.Status, "a token without aud is refused once an audience is configured")
		assert.Contains(t, ans.ErrorMsg(t), "claim")
	})
}
