package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// TestStreamCaps: past the per-user cap, and past the global cap, a
// stream request is answered 429 with a JSON error and Retry-After; a
// stream that closes frees its place.
func TestStreamCaps(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.MaxStreamsPerUser, c.MaxStreams = 3, 5 })
	open := func(user string) *testkit.Stream {
		s := testkit.Subscribe(t, a.URL+"/v1/users/"+user+"/stream?token="+token(t, user), nil)
		require.Equal(t, "connected", s.Next(5*time.Second).Event)
		return s
	}
	refused := func(user, why string) {
		t.Helper()
		ans := a.do(t, http.MethodGet, "/v1/users/"+user+"/stream?token="+token(t, user), nil)
		require.Equal(t, http.StatusTooManyRequests, ans.Status, "%s: body %s", why, ans.Body)
		assert.Contains(t, ans.ErrorMsg(t), "streams")
		assert.Equal(t, streamRetryAfter, ans.Header.Get("Retry-After"))
	}
	alice := []*testkit.Stream{open("alice"), open("alice"), open("alice")}
	refused("alice", "per-user cap")
	open("bob")
	open("carol")
	refused("dave", "global cap")

	// History and publishes are not streams: they still work.
	assert.Equal(t, http.StatusCreated, a.publish(t, "/v1/users/alice/events", `{"data":1}`).Status)
	assert.Equal(t, http.StatusOK, a.do(t, http.MethodGet, "/v1/users/dave/events", nil, "Authorization: Bearer "+token(t, "dave")).Status)

	alice[0].Close()
	testkit.WaitFor(t, 10*time.Second, "a closed stream frees its place", func() bool {
		return a.Srv.limits.count("alice") == 2
	})
	open("dave")
	refused("erin", "global cap again")
	assert.Equal(t, 5, a.Srv.limits.count(""))
}

// TestHeadOnAStreamAtItsCap: HEAD on a stream route answers as GET would
// begin; past a stream cap GET is refused with 429 and Retry-After, and
// HEAD said 200.
func TestHeadOnAStreamAtItsCap(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.MaxStreamsPerUser = 1 })
	s := testkit.Subscribe(t, a.URL+"/v1/users/alice/stream?token="+token(t, "alice"), nil)
	require.Equal(t, "connected", s.Next(5*time.Second).Event)
	for _, path := range []string{"/v1/users/alice/stream", "/api/events?userId=alice"} {
		get := a.do(t, http.MethodGet, path, nil, "Authorization: Bearer "+token(t, "alice"))
		require.Equal(t, http.StatusTooManyRequests, get.Status, "GET %s", path)
		head := a.do(t, http.MethodHead, path, nil, "Authorization: Bearer "+token(t, "alice"))
		assert.Equal(t, get.Status, head.Status, "HEAD %s", path)
		assert.Equal(t, get.Header.Get("Retry-After"), head.Header.Get("Retry-After"), "HEAD %s", path)
	}
}

// TestStreamCapAfterARelease: a user at the cap who closes one of two
// streams holds one place, not none: two more opens reach the cap again
// and the next is refused. The last place's release must not forget the
// user's others.
func TestStreamCapAfterARelease(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.MaxStreamsPerUser = 2 })
	path := "/v1/users/alice/stream"
	auth := "Authorization: Bearer " + token(t, "alice")
	open := func() *testkit.Stream {
		s := testkit.Subscribe(t, a.URL+path+"?token="+token(t, "alice"), nil)
		require.Equal(t, "connected", s.Next(5*time.Second).Event)
		return s
	}
	first := open()
	open()
	first.Close()
	testkit.WaitFor(t, 10*time.Second, "the closed stream to leave", func() bool { return a.Srv.hub.Streams("alice") == 1 })
	assert.Equal(t, http.StatusOK, a.do(t, http.MethodHead, path, nil, auth).Status, "one place is free")
	open()
	// HEAD answers what GET would, without holding a place (or hanging
	// on a stream the cap should have refused).
	ans := a.do(t, http.MethodHead, path, nil, auth)
	assert.Equal(t, http.StatusTooManyRequests, ans.Status, "two streams open: at the cap")
	assert.Equal(t, streamRetryAfter, ans.Header.Get("Retry-After"))
}
