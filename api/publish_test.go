package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
)

var readAll = eventlogtest.Events

func TestPublishStoresCompactData(t *testing.T) {
	a := newTestAPI(t, withKeys)
	cases := []struct {
		body, name, data string
	}{
		{`{"event":"notification","data":{ "text" : "hi",  "n": [1, 2] }}`, "notification", `{"text":"hi","n":[1,2]}`},
		{"{\"data\":\n\"two\\nlines\"\r\n}", "", `"two\nlines"`},
		{`{"event":"message","data":null}`, "", `null`},
		{`{"event":"a.b:c_d-1","data":"\u2028 stays"}`, "a.b:c_d-1", `"\u2028 stays"`},
		{`{"data":"<script>&</script>"}`, "", `"<script>&</script>"`},
	}
	for i, c := range cases {
		ans := a.publish(t, "/v1/users/alice/events", c.body)
		require.Equal(t, http.StatusCreated, ans.Status, "case %d: %s", i, ans.Body)
		id := ans.JSON(t)["id"].(string)
		evs := readAll(t, a.Log, "alice")
		last := evs[len(evs)-1]
		assert.Equal(t, id, last.ID.String())
		assert.Equal(t, c.name, last.Name, "case %d", i)
		assert.Equal(t, c.data, string(last.Data), "case %d", i)
	}
	ans := a.publish(t, "/v1/broadcast", `{"event":"news","data":[1]}`)
	require.Equal(t, http.StatusCreated, ans.Status)
	evs := readAll(t, a.Log, "")
	require.Len(t, evs, 1)
	assert.Equal(t, "", evs[0].User)
}

func TestPublishLimitConfigurable(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.MaxBody = 100 })
	require.Equal(t, http.StatusCreated, a.publish(t, "/v1/users/u/events", `{"data":"`+strings.Repeat("a", 80)+`"}`).Status)
	require.Equal(t, http.StatusRequestEntityTooLarge, a.publish(t, "/v1/users/u/events", `{"data":"`+strings.Repeat("a", 100)+`"}`).Status)
	// A batch's events obey the per-event limit too.
	ans := a.publish(t, "/v1/events", `[{"user":"u","data":"`+strings.Repeat("a", 120)+`"}]`)
	require.Equal(t, http.StatusRequestEntityTooLarge, ans.Status, "%s", ans.Body)
}

func TestIdempotency(t *testing.T) {
	a := newTestAPI(t, withKeys)
	first := a.publish(t, "/v1/users/alice/events", `{"data":1}`, "Idempotency-Key: order-42")
	require.Equal(t, http.StatusCreated, first.Status)
	before := a.stats(t)
	again := a.publish(t, "/v1/users/alice/events", `{"data":1}`, "Idempotency-Key: order-42")
	require.Equal(t, http.StatusCreated, again.Status)
	assert.Equal(t, first.JSON(t)["id"], again.JSON(t)["id"], "a retry returns the first id")
	assert.Equal(t, before, a.stats(t), "and stores nothing")

	// The key names one request: another target is 422
	// (TestIdempotencyKeyReuseIs422).
}

func TestBatch(t *testing.T) {
	a := newTestAPI(t, withKeys)
	body := `[{"user":"alice","event":"n","data":{"i":0}},{"data":"everyone"},{"user":"bob","data":2}]`
	ans := a.publish(t, "/v1/events", body)
	require.Equal(t, http.StatusCreated, ans.Status, "%s", ans.Body)
	var out struct{ IDs []string }
	require.NoError(t, json.Unmarshal(ans.Body, &out))
	require.Len(t, out.IDs, 3)
	alice := readAll(t, a.Log, "alice") // hers and the broadcast
	require.Len(t, alice, 2)
	assert.Equal(t, out.IDs[0], alice[0].ID.String())
	assert.Equal(t, out.IDs[1], alice[1].ID.String())
	assert.Equal(t, "", alice[1].User)
	assert.Equal(t, out.IDs[2], readAll(t, a.Log, "bob")[1].ID.String())
	assert.Less(t, out.IDs[0], out.IDs[1], "ids follow input order")
	assert.Less(t, out.IDs[1], out.IDs[2])
}

func TestBatchAllOrNothing(t *testing.T) {
	a := newTestAPI(t, withKeys)
	before := a.stats(t)
	for name, body := range map[string]string{
		"reserved name at 2": `[{"user":"a","data":1},{"user":"b","data":2},{"user":"c","event":"gap","data":3}]`,
		"bad user at 1":      `[{"user":"a","data":1},{"user":"b/c","data":2}]`,
		"data missing at 1":  `[{"user":"a","data":1},{"user":"b"}]`,
		"unknown field":      `[{"user":"a","data":1,"id":"x"}]`,
		"not an object":      `[{"user":"a","data":1},7]`,
		"empty":              `[]`,
		"object":             `{"user":"a","data":1}`,
		"too many":           "[" + strings.Repeat(`{"data":1},`, maxBatchEvents) + `{"data":1}]`,
	} {
		t.Run(name, func(t *testing.T) {
			ans := a.publish(t, "/v1/events", body)
			assert.Contains(t, []int{400, 413}, ans.Status, "%s", ans.Body)
			ans.ErrorMsg(t)
			assert.Equal(t, before, a.stats(t), "nothing of the batch is stored")
		})
	}
}

func TestBatchIdempotency(t *testing.T) {
	a := newTestAPI(t, withKeys)
	body := `[{"user":"alice","data":1},{"data":2},{"user":"alice","data":3}]`
	first := a.publish(t, "/v1/events", body, "Idempotency-Key: import-7")
	require.Equal(t, http.StatusCreated, first.Status)
	before := a.stats(t)
	again := a.publish(t, "/v1/events", body, "Idempotency-Key: import-7")
	require.Equal(t, http.StatusCreated, again.Status)
	assert.JSONEq(t, string(first.Body), string(again.Body), "a retried batch returns the same ids")
	assert.Equal(t, before, a.stats(t))
	assert.Equal(t, uint64(3), before.Events)
}

func TestHistoryPaging(t *testing.T) {
	a := newTestAPI(t, withKeys)
	var ids []string
	for i := range 25 {
		path := "/v1/users/alice/events"
		if i%5 == 4 {
			path = "/v1/broadcast" // merged into alice's history
		}
		ans := a.publish(t, path, fmt.Sprintf(`{"event":"e%d","data":{"i":%d}}`, i, i))
		require.Equal(t, http.StatusCreated, ans.Status)
		ids = append(ids, ans.JSON(t)["id"].(string))
	}
	a.publish(t, "/v1/users/bob/events", `{"data":"not alice's"}`)
	auth := "Authorization: Bearer " + token(t, "alice")

	type page struct {
		Events []struct {
			ID, Event, Time string
			Data            json.RawMessage
		}
		Next string
	}
	var got []string
	after := ""
	for range 10 {
		q := "?limit=10"
		if after != "" {
			q += "&after=" + after
		}
		ans := a.do(t, http.MethodGet, "/v1/users/alice/events"+q, nil, auth)
		require.Equal(t, http.StatusOK, ans.Status, "%s", ans.Body)
		var p page
		require.NoError(t, json.Unmarshal(ans.Body, &p))
		for _, e := range p.Events {
			got = append(got, e.ID)
			i := len(got) - 1
			assert.Equal(t, fmt.Sprintf("e%d", i), e.Event)
			assert.JSONEq(t, fmt.Sprintf(`{"i":%d}`, i), string(e.Data))
			assert.NotEmpty(t, e.Time)
		}
		if len(p.Events) == 0 {
			assert.Equal(t, after, p.Next, "an empty page hands back the cursor it was given")
			break
		}
		assert.Equal(t, p.Events[len(p.Events)-1].ID, p.Next)
		after = p.Next
	}
	assert.Equal(t, ids, got, "every event once, oldest first")

	ans := a.do(t, http.MethodGet, "/v1/users/nobody/events", nil, "Authorization: Bearer "+token(t, "nobody"))
	require.Equal(t, http.StatusOK, ans.Status)
	var p page
	require.NoError(t, json.Unmarshal(ans.Body, &p))
	var seen []string
	for _, e := range p.Events {
		seen = append(seen, e.ID)
	}
	assert.Equal(t, []string{ids[4], ids[9], ids[14], ids[19], ids[24]}, seen,
		"a user with no events of their own still sees the broadcasts")
}

func TestHistoryGap(t *testing.T) {
	// A count cap, so retention deletes what alice asks for: the gap
	// must be reported, not skipped silently.
	a := newTestAPILog(t, eventlog.Options{MaxEvents: 2}, withKeys)
	var ids []string
	for i := range 5 {
		ans := a.publish(t, "/v1/users/alice/events", fmt.Sprintf(`{"data":%d}`, i))
		ids = append(ids, ans.JSON(t)["id"].(string))
	}
	_, err := a.Log.Compact(t.Context())
	require.NoError(t, err)
	ans := a.do(t, http.MethodGet, "/v1/users/alice/events?after="+ids[0], nil, "Authorization: Bearer "+token(t, "alice"))
	require.Equal(t, http.StatusOK, ans.Status)
	m := ans.JSON(t)
	require.NotNil(t, m["gap"], "%s", ans.Body)
	assert.Equal(t, ids[3], m["gap"].(map[string]any)["oldestId"])
	assert.Len(t, m["events"], 2)
}

// An after= above every id this log issued (a cursor from another history,
// say before a restore) is reported as unknown, and next points at the
// newest id so polling follows what comes now.
func TestHistoryUnknownAfter(t *testing.T) {
	a := newTestAPI(t, withKeys)
	first := a.publish(t, "/v1/users/alice/events", `{"data":1}`).JSON(t)["id"].(string)
	last := a.publish(t, "/v1/users/bob/events", `{"data":2}`).JSON(t)["id"].(string)
	future := ulid.MustNew(ulid.Timestamp(time.Now().Add(24*time.Hour)), ulid.DefaultEntropy()).String()
	auth := "Authorization: Bearer " + token(t, "alice")

	ans := a.do(t, http.MethodGet, "/v1/users/alice/events?after="+future, nil, auth)
	require.Equal(t, http.StatusOK, ans.Status)
	m := ans.JSON(t)
	require.NotNil(t, m["gap"], "%s", ans.Body)
	assert.Equal(t, "unknown-last-event-id", m["gap"].(map[string]any)["reason"])
	assert.Equal(t, first, m["gap"].(map[string]any)["oldestId"])
	assert.Equal(t, last, m["next"])
	assert.Empty(t, m["events"])

	live := a.publish(t, "/v1/users/alice/events", `{"data":3}`).JSON(t)["id"].(string)
	ans = a.do(t, http.MethodGet, "/v1/users/alice/events?after="+m["next"].(string), nil, auth)
	m = ans.JSON(t)
	assert.Nil(t, m["gap"])
	require.Len(t, m["events"], 1)
	assert.Equal(t, live, m["events"].([]any)[0].(map[string]any)["id"])
}

// TestReadSized: the body reader returns exactly what the reader holds,
// whether the declared length is right, short, long or unknown.
func TestReadSized(t *testing.T) {
	body := strings.Repeat("x", 1000)
	for _, declared := range []int64{-1, 0, 1, 999, 1000, 1001, 5000, 2 << 20} {
		got, err := readSized(strings.NewReader(body), declared)
		require.NoError(t, err, "declared %d", declared)
		require.Equal(t, body, string(got), "declared %d", declared)
	}
}

// TestPublishBodyOfExactlyTheLimit: MaxBody is the largest body taken:
// a declared length of MaxBody is stored, one byte more is 413.
func TestPublishBodyOfExactlyTheLimit(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.MaxBody = 100 })
	body := func(n int) string { return `{"data":"` + strings.Repeat("a", n-11) + `"}` }
	require.Len(t, body(100), 100)
	ans := a.publish(t, "/v1/users/u/events", body(100))
	require.Equal(t, http.StatusCreated, ans.Status, "%s", ans.Body)
	ans = a.publish(t, "/v1/users/u/events", body(101))
	require.Equal(t, http.StatusRequestEntityTooLarge, ans.Status, "%s", ans.Body)
}

// TestHistoryDefaultLimit: a history call without limit= returns 100
// events, as documented, and says where to go on.
func TestHistoryDefaultLimit(t *testing.T) {
	a := newTestAPI(t, withKeys)
	batch := make([]string, 101)
	for i := range batch {
		batch[i] = fmt.Sprintf(`{"user":"u","data":%d}`, i)
	}
	require.Equal(t, http.StatusCreated, a.publish(t, "/v1/events", "["+strings.Join(batch, ",")+"]").Status)
	ans := a.do(t, http.MethodGet, "/v1/users/u/events", nil, "Authorization: Bearer "+token(t, "u"))
	require.Equal(t, http.StatusOK, ans.Status, "%s", ans.Body)
	evs := ans.JSON(t)["events"].([]any)
	require.Len(t, evs, 100)
	assert.Equal(t, evs[99].(map[string]any)["id"], ans.JSON(t)["next"])
}
