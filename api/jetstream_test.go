package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/jetlog"
	"github.com/sselog/sselog/jetlog/jetlogtest"
	"github.com/sselog/sselog/stream"
)

var _ Store = (*jetlog.Log)(nil)

// newJetAPI is a real server over a JetStream log on an in-process
// nats-server, with auth on; opts, if given, are the log's.
func newJetAPI(t *testing.T, opts ...jetlog.Options) (*testAPI, *jetlog.Log, func()) {
	t.Helper()
	ns := jetlogtest.RunServer(t)
	o := jetlog.Options{}
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Timeout = 2 * time.Second
	lg := jetlogtest.Open(t, ns.ClientURL(), o)
	srv, err := New(lg, Config{Stream: stream.Options{Heartbeat: time.Hour}, PublisherKey: testKey, SubscriberSecret: testSecret})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.CloseStreams(); ts.Close() })
	return &testAPI{URL: ts.URL, Srv: srv, TS: ts}, lg, ns.Shutdown
}

// /healthz names the store under ?details=1 (plain /healthz says only
// its status); on JetStream it answers 503 "unavailable" once the stream
// cannot be reached, so a balancer takes the node out.
func TestHealthNamesTheStore(t *testing.T) {
	const details = "/healthz?details=1"
	key := "Authorization: Bearer " + testKey
	a := newTestAPI(t)
	got := a.do(t, http.MethodGet, details, nil, key)
	require.Equal(t, http.StatusOK, got.Status)
	assert.Equal(t, "bbolt", got.JSON(t)["store"])

	j, _, stop := newJetAPI(t)
	got = j.do(t, http.MethodGet, "/healthz", nil)
	require.Equal(t, http.StatusOK, got.Status, "%s", got.Body)
	assert.NotContains(t, got.JSON(t), "store", "the store is a detail")
	got = j.do(t, http.MethodGet, details, nil, key)
	require.Equal(t, http.StatusOK, got.Status, "%s", got.Body)
	assert.Equal(t, "jetstream", got.JSON(t)["store"])
	stop()
	// The store's answer is reused for a second.
	testkit.WaitFor(t, 30*time.Second, "/healthz to answer 503", func() bool {
		got = j.do(t, http.MethodGet, "/healthz", nil)
		return got.Status == http.StatusServiceUnavailable
	})
	assert.Equal(t, "unavailable", got.JSON(t)["status"])
	got = j.do(t, http.MethodGet, details, nil, key)
	require.Equal(t, http.StatusServiceUnavailable, got.Status, "%s", got.Body)
	assert.Equal(t, "jetstream", got.JSON(t)["store"])
	assert.Equal(t, "store unreachable", got.JSON(t)["error"])
}

// The backup route cannot copy a JetStream stream: it says how to back
// one up instead of failing obscurely.
func TestBackupOnJetStreamPointsToNATS(t *testing.T) {
	j, _, _ := newJetAPI(t)
	got := j.do(t, http.MethodGet, "/v1/admin/backup", nil, "Authorization: Bearer "+testKey)
	require.Equal(t, http.StatusNotImplemented, got.Status, "%s", got.Body)
	assert.Contains(t, got.ErrorMsg(t), "nats stream backup")
}

// Publishes through the API land in JetStream and stream out; with the
// servers gone, a publish is a 503 and the open stream stays open.
func TestPublishOnJetStream(t *testing.T) {
	j, lg, stop := newJetAPI(t)
	s := testkit.Subscribe(t, j.URL+"/v1/users/a.b@c/stream?token="+token(t, "a.b@c"), nil)
	require.Equal(t, "connected", s.Next(10*time.Second).Event)
	got := j.publish(t, "/v1/users/a.b@c/events", `{"event":"note","data":{"n":1}}`)
	require.Equal(t, http.StatusCreated, got.Status, "%s", got.Body)
	id := got.JSON(t)["id"].(string)
	m := s.NextData(10 * time.Second)
	assert.Equal(t, id, m.ID)
	assert.Equal(t, "note", m.Event)
	assert.JSONEq(t, `{"n":1}`, m.Data)

	got = j.publish(t, "/v1/events", `[{"user":"a.b@c","event":"x","data":1},{"event":"y","data":2}]`)
	require.Equal(t, http.StatusCreated, got.Status, "%s", got.Body)
	assert.Equal(t, "x", s.NextData(10*time.Second).Event)
	assert.Equal(t, "y", s.NextData(10*time.Second).Event)

	stop()
	got = j.publish(t, "/v1/users/a.b@c/events", `{"data":2}`)
	require.Equal(t, http.StatusServiceUnavailable, got.Status, "%s", got.Body)
	assert.True(t, strings.Contains(got.ErrorMsg(t), "unavailable"))
	assert.True(t, s.Quiet(200*time.Millisecond), "the open stream stays open and quiet")
	st, err := lg.Stats()
	if err == nil {
		assert.Equal(t, uint64(3), st.Events, "nothing half stored")
	}
	_ = eventlog.ZeroID
}

// /metrics reports the JetStream store's figures (Counts, refreshed by
// the follower's check every 2 s: a scrape asks JetStream nothing).
func TestMetricsOnJetStream(t *testing.T) {
	j, _, _ := newJetAPI(t)
	for _, path := range []string{"/v1/users/a/events", "/v1/users/b/events", "/v1/broadcast"} {
		got := j.publish(t, path, `{"data":1}`)
		require.Equal(t, http.StatusCreated, got.Status, "%s", got.Body)
	}
	testkit.WaitFor(t, 30*time.Second, "/metrics to report the stream's figures", func() bool {
		got := j.do(t, http.MethodGet, "/metrics", nil)
		require.Equal(t, http.StatusOK, got.Status)
		for _, line := range []string{"sselog_events 3", "sselog_broadcast_events 1", "sselog_users 2"} {
			if !strings.Contains(string(got.Body), line+"\n") {
				return false
			}
		}
		return true
	})
}

// When the JetStream quorum is lost, publishes are 503 and /healthz is
// 503; an open stream stays open, and once the quorum is back it carries
// on with the next events, without reconnecting.
func TestStreamSurvivesQuorumLoss(t *testing.T) {
	c := jetlogtest.RunCluster(t, 3)
	lg := jetlogtest.Open(t, c.Servers[0].ClientURL(), jetlog.Options{Stream: "Q", Replicas: 3, Timeout: 2 * time.Second})
	srv, err := New(lg, Config{Stream: stream.Options{Heartbeat: time.Hour}, PublisherKey: testKey, SubscriberSecret: testSecret})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.CloseStreams(); ts.Close() })
	j := &testAPI{URL: ts.URL, Srv: srv, TS: ts}

	s := testkit.Subscribe(t, j.URL+"/v1/users/u/stream?token="+token(t, "u"), nil)
	require.Equal(t, "connected", s.Next(30*time.Second).Event)
	got := j.publish(t, "/v1/users/u/events", `{"data":1}`)
	require.Equal(t, http.StatusCreated, got.Status, "%s", got.Body)
	assert.JSONEq(t, `1`, s.NextData(30*time.Second).Data)

	c.Stop(1)
	c.Stop(2)
	got = j.publish(t, "/v1/users/u/events", `{"data":2}`, "Idempotency-Key: two")
	require.Equal(t, http.StatusServiceUnavailable, got.Status, "%s", got.Body)
	testkit.WaitFor(t, time.Minute, "/healthz to answer 503", func() bool {
		return j.do(t, http.MethodGet, "/healthz", nil).Status == http.StatusServiceUnavailable
	})

	c.Restart(1)
	testkit.WaitFor(t, time.Minute, "publishing to work again", func() bool {
		return j.publish(t, "/v1/users/u/events", `{"data":2}`, "Idempotency-Key: two").Status == http.StatusCreated
	})
	got = j.publish(t, "/v1/users/u/events", `{"data":3}`)
	require.Equal(t, http.StatusCreated, got.Status, "%s", got.Body)
	assert.JSONEq(t, `2`, s.NextData(time.Minute).Data, "the same stream goes on")
	assert.JSONEq(t, `3`, s.NextData(time.Minute).Data)
	testkit.WaitFor(t, time.Minute, "/healthz to answer 200", func() bool {
		return j.do(t, http.MethodGet, "/healthz", nil).Status == http.StatusOK
	})
}

// A keyed retry whose first event retention deleted inside the key's
// window, on JetStream: 409 with a JSON error naming the key, nothing
// stored. It was a 503, which clients retry until the window ends, when a
// retry stores the event again.
func TestKeyedRetryOfADeletedEventIs409(t *testing.T) {
	j, lg, _ := newJetAPI(t, jetlog.Options{MaxEvents: 1})
	first := j.publish(t, "/v1/users/alice/events", `{"data":1}`, "Idempotency-Key: order-9")
	require.Equal(t, http.StatusCreated, first.Status, "%s", first.Body)
	require.Equal(t, http.StatusCreated, j.publish(t, "/v1/users/alice/events", `{"data":2}`).Status)
	newest := func() eventlog.ID { // Stats reads this node's own writes; Last may trail them
		st, err := lg.Stats()
		require.NoError(t, err)
		return st.Newest
	}
	last := newest()
	again := j.publish(t, "/v1/users/alice/events", `{"data":1}`, "Idempotency-Key: order-9")
	require.Equal(t, http.StatusConflict, again.Status, "%s", again.Body)
	assert.Contains(t, again.ErrorMsg(t), `Idempotency-Key "order-9"`)
	assert.Equal(t, last, newest(), "nothing stored")
}
