package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAmbiguousJSONRefused: a body a JSON parser may read two ways is a
// 400 and stores nothing: duplicate keys (encoding/json keeps the last,
// so {"user":"alice","user":"bob"} was stored for bob; a browser's
// JSON.parse keeps the last too, other parsers the first), escaped or
// not, at any depth; and numbers no float64 holds (1e999 is Infinity to
// a browser, an error to others); and a NUL byte after the value, which
// the reader once took for the end of the body (what followed it was
// ignored, and the first value stored).
func TestAmbiguousJSONRefused(t *testing.T) {
	a := newTestAPI(t, withKeys)
	cases := []struct {
		name, path, body string
		status           int
	}{
		{"duplicate user in batch", "/v1/events", `[{"user":"alice","user":"bob","data":1}]`, 400},
		{"duplicate data", "/v1/users/alice/events", `{"data":1,"data":2}`, 400},
		{"duplicate event", "/v1/broadcast", `{"event":"a","event":"b","data":1}`, 400},
		{"duplicate through an escape", "/v1/users/alice/events", `{"data":1,"d\u0061ta":2}`, 400},
		{"duplicate inside data", "/v1/users/alice/events", `{"data":{"a":{"b":1,"b":2}}}`, 400},
		{"duplicate in an array of objects", "/v1/users/alice/events", `{"data":[{"k":1},{"k":2,"k":3}]}`, 400},
		{"number overflows float64", "/v1/users/alice/events", `{"data":1e999}`, 400},
		{"negative overflow in batch", "/v1/events", `[{"data":{"n":-1e999}}]`, 400},
		{"long integer overflows", "/v1/users/alice/events", `{"data":1` + strings.Repeat("0", 400) + `}`, 400},
		{"NUL after the value", "/v1/users/alice/events", "{\"data\":1}\x00", 400},
		{"NUL then another value", "/v1/users/alice/events", "{\"data\":1}\x00{\"event\":\"x\",\"data\":2} garbage", 400},
		{"NUL then garbage on broadcast", "/v1/broadcast", "{\"data\":1}\x00not json at all", 400},
		{"NUL after a batch", "/v1/events", "[{\"user\":\"alice\",\"data\":1}]\x00]]]", 400},
		{"same key in sibling objects", "/v1/users/alice/events", `{"data":[{"k":1},{"k":2}]}`, 201},
		{"key equal to a value", "/v1/users/alice/events", `{"data":{"a":"a","b":"a"}}`, 201},
		{"largest float", "/v1/users/alice/events", `{"data":1.7976931348623157e308}`, 201},
		{"tiny float", "/v1/users/alice/events", `{"data":1e-999}`, 201},
		{"long integer that fits", "/v1/users/alice/events", `{"data":123456789012345678901234567890}`, 201},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := a.stats(t)
			ans := a.publish(t, c.path, c.body)
			require.Equal(t, c.status, ans.Status, "body %s", ans.Body)
			if c.status == 400 {
				ans.ErrorMsg(t)
				assert.Equal(t, before, a.stats(t), "nothing stored")
			}
		})
	}
}

// TestHistoryAfterTrimmed: after= is trimmed as the stream trims
// Last-Event-ID.
func TestHistoryAfterTrimmed(t *testing.T) {
	a := newTestAPI(t, withKeys)
	first := a.publish(t, "/v1/users/alice/events", `{"data":1}`).JSON(t)["id"].(string)
	second := a.publish(t, "/v1/users/alice/events", `{"data":2}`).JSON(t)["id"].(string)
	ans := a.do(t, http.MethodGet, "/v1/users/alice/events?after="+url.QueryEscape(" "+first+"\t"), nil, "Authorization: Bearer "+token(t, "alice"))
	require.Equal(t, http.StatusOK, ans.Status, "body %s", ans.Body)
	evs := ans.JSON(t)["events"].([]any)
	require.Len(t, evs, 1)
	assert.Equal(t, second, evs[0].(map[string]any)["id"])
}

// TestReservedNamesRefused: the four names the server keeps for itself are
// refused on every publish route, 400 and nothing stored. "open" could be
// dropped from the list with no test failing: each name was tried once,
// on one route, and "open" on none.
func TestReservedNamesRefused(t *testing.T) {
	a := newTestAPI(t, withKeys)
	for _, name := range []string{"connected", "gap", "error", "open"} {
		for _, c := range []struct{ path, body string }{
			{"/v1/users/alice/events", `{"event":"` + name + `","data":1}`},
			{"/v1/broadcast", `{"event":"` + name + `","data":1}`},
			{"/v1/events", `[{"user":"alice","event":"` + name + `","data":1}]`},
		} {
			t.Run(name+" "+c.path, func(t *testing.T) {
				before := a.stats(t)
				ans := a.publish(t, c.path, c.body)
				require.Equal(t, http.StatusBadRequest, ans.Status, "body %s", ans.Body)
				ans.ErrorMsg(t)
				assert.Equal(t, before, a.stats(t), "nothing stored")
			})
		}
	}
}
