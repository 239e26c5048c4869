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

// TestPresence: GET /v1/users/:user/presence counts the user's open
// streams on this server, and every publish answer says how many streams
// were open for its target ("live"): the recipe's sendToUser boolean, as a
// hint. The event is stored either way.
func TestPresence(t *testing.T) {
	a := newTestAPI(t, withKeys)
	auth := "Authorization: Bearer " + testKey
	presence := func(user string) float64 {
		t.Helper()
		ans := a.do(t, http.MethodGet, "/v1/users/"+user+"/presence", nil, auth)
		require.Equal(t, http.StatusOK, ans.Status, "body %s", ans.Body)
		return ans.JSON(t)["streams"].(float64)
	}
	live := func(ans answer) any {
		t.Helper()
		require.Equal(t, http.StatusCreated, ans.Status, "body %s", ans.Body)
		return ans.JSON(t)["live"]
	}

	assert.Zero(t, presence("alice"))
	before := a.stats(t).Events
	assert.Equal(t, float64(0), live(a.publish(t, "/v1/users/alice/events", `{"data":1}`)), "nobody listening")
	assert.Equal(t, before+1, a.stats(t).Events, "stored all the same")

	open := func(user string) *testkit.Stream {
		s := testkit.Subscribe(t, a.URL+"/v1/users/"+user+"/stream?token="+token(t, user), nil)
		require.Equal(t, "connected", s.Next(5*time.Second).Event)
		return s
	}
	a1, _, _ := open("alice"), open("alice"), open("bob")
	assert.Equal(t, float64(2), presence("alice"))
	assert.Equal(t, float64(1), presence("bob"))
	assert.Zero(t, presence("carol"))
	assert.Equal(t, float64(2), live(a.publish(t, "/v1/users/alice/events", `{"data":2}`)))
	assert.Equal(t, float64(3), live(a.publish(t, "/v1/broadcast", `{"data":3}`)), "a broadcast reaches every stream")
	assert.Equal(t, []any{float64(2), float64(3), float64(0)},
		live(a.publish(t, "/v1/events", `[{"user":"alice","data":4},{"data":5},{"user":"carol","data":6}]`)),
		"a batch: one count per event")
	// A keyed publish says it too.
	assert.Equal(t, float64(1), live(a.publish(t, "/v1/users/bob/events", `{"data":7}`, "Idempotency-Key: k1")))

	a1.Close()
	testkit.WaitFor(t, 5*time.Second, "alice's closed stream to leave", func() bool { return presence("alice") == 1 })

	// The publisher key is required; a subscriber token is not enough.
	for _, c := range []struct {
		name   string
		header []string
		status int
	}{
		{"no key", nil, 401},
		{"subscriber token", []string{"Authorization: Bearer " + token(t, "alice")}, 401}, // a wrong key: RFC 6750 invalid_token
	} {
		ans := a.do(t, http.MethodGet, "/v1/users/alice/presence", nil, c.header...)
		assert.Equal(t, c.status, ans.Status, "%s: %s", c.name, ans.Body)
	}
	ans := a.do(t, http.MethodGet, "/v1/users/"+strings.Repeat("x", 200)+"/presence", nil, auth)
	assert.Equal(t, http.StatusBadRequest, ans.Status)
	assert.NotEmpty(t, ans.ErrorMsg(t))
}
