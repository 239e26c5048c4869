package api

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A batch's key lives in its own key space: a single publish keyed
// "order-7#0" earlier must not swallow the batch's first event.
func TestBatchKeyCannotCollideWithSingleKey(t *testing.T) {
	a := newTestAPI(t, withKeys)
	single := a.publish(t, "/v1/users/alice/events", `{"data":"single"}`, "Idempotency-Key: order-7#0")
	require.Equal(t, http.StatusCreated, single.Status, "%s", single.Body)
	ans := a.publish(t, "/v1/events", `[{"user":"alice","data":0},{"user":"alice","data":1},{"user":"alice","data":2}]`,
		"Idempotency-Key: order-7")
	require.Equal(t, http.StatusCreated, ans.Status, "%s", ans.Body)
	var out struct{ IDs []string }
	require.NoError(t, json.Unmarshal(ans.Body, &out))
	require.Len(t, out.IDs, 3)
	assert.NotContains(t, out.IDs, single.JSON(t)["id"], "the batch got another request's id")
	evs := readAll(t, a.Log, "alice")
	require.Len(t, evs, 4, "3 published in the batch, 3 stored, plus the single")
	for i, id := range out.IDs {
		assert.Equal(t, id, evs[i+1].ID.String())
	}
}

// A batch key is bound to the batch as a whole: the same key with the
// events in another order is another request (422), and stores nothing.
func TestBatchKeyBoundToWholeBatch(t *testing.T) {
	a := newTestAPI(t, withKeys)
	first := a.publish(t, "/v1/events", `[{"user":"a","data":1},{"user":"b","data":2}]`, "Idempotency-Key: k")
	require.Equal(t, http.StatusCreated, first.Status)
	before := a.stats(t)
	for name, body := range map[string]string{
		"reordered": `[{"user":"b","data":2},{"user":"a","data":1}]`,
		"shorter":   `[{"user":"a","data":1}]`,
		"longer":    `[{"user":"a","data":1},{"user":"b","data":2},{"user":"c","data":3}]`,
	} {
		t.Run(name, func(t *testing.T) {
			ans := a.publish(t, "/v1/events", body, "Idempotency-Key: k")
			assert.Equal(t, http.StatusUnprocessableEntity, ans.Status, "%s", ans.Body)
			assert.Contains(t, ans.ErrorMsg(t), "Idempotency-Key")
			assert.Equal(t, before, a.stats(t), "nothing stored")
		})
	}
	// The same batch again is a retry.
	again := a.publish(t, "/v1/events", `[{"user":"a","data":1},{"user":"b","data":2}]`, "Idempotency-Key: k")
	require.Equal(t, http.StatusCreated, again.Status)
	assert.JSONEq(t, string(first.Body), string(again.Body))
}

// The IETF Idempotency-Key draft: the same key with a different request
// (body or target) is 422 with a JSON error, and stores nothing.
func TestIdempotencyKeyReuseIs422(t *testing.T) {
	a := newTestAPI(t, withKeys)
	first := a.publish(t, "/v1/users/alice/events", `{"event":"n","data":{"v":1}}`, "Idempotency-Key: order-42")
	require.Equal(t, http.StatusCreated, first.Status)
	before := a.stats(t)
	for _, tc := range []struct{ name, path, body string }{
		{"other data", "/v1/users/alice/events", `{"event":"n","data":{"v":2}}`},
		{"other name", "/v1/users/alice/events", `{"event":"m","data":{"v":1}}`},
		{"other user", "/v1/users/bob/events", `{"event":"n","data":{"v":1}}`},
		{"broadcast", "/v1/broadcast", `{"event":"n","data":{"v":1}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ans := a.publish(t, tc.path, tc.body, "Idempotency-Key: order-42")
			assert.Equal(t, http.StatusUnprocessableEntity, ans.Status, "%s", ans.Body)
			assert.Contains(t, ans.ErrorMsg(t), "Idempotency-Key")
			assert.Equal(t, before, a.stats(t), "nothing stored")
		})
	}
	// The same request, even with other JSON spacing, is a retry.
	again := a.publish(t, "/v1/users/alice/events", `{"event":"n", "data": { "v" : 1 }}`, "Idempotency-Key: order-42")
	require.Equal(t, http.StatusCreated, again.Status, "%s", again.Body)
	assert.Equal(t, first.JSON(t)["id"], again.JSON(t)["id"])
	assert.Equal(t, before, a.stats(t))
}

// Retries racing their first attempt store once, and all get one id.
func TestIdempotencyRacingRetriesStoreOnce(t *testing.T) {
	a := newTestAPI(t, withKeys)
	for _, tc := range []struct{ name, path, body string }{
		{"single", "/v1/users/alice/events", `{"data":1}`},
		{"batch", "/v1/events", `[{"user":"bob","data":1},{"data":2}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.stats(t)
			bodies := make([]string, 20)
			var wg sync.WaitGroup
			for i := range bodies {
				wg.Go(func() {
					ans := a.publish(t, tc.path, tc.body, "Idempotency-Key: race-"+tc.name)
					assert.Equal(t, http.StatusCreated, ans.Status, "%s", ans.Body)
					bodies[i] = string(ans.Body)
				})
			}
			wg.Wait()
			for _, b := range bodies {
				assert.JSONEq(t, bodies[0], b)
			}
			n := uint64(1)
			if tc.name == "batch" {
				n = 2
			}
			assert.Equal(t, before.Events+n, a.stats(t).Events)
		})
	}
}
