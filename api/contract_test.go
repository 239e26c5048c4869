package api

import (
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHistoryMalformedQueryIs400: a history query the server cannot read
// (a bad escape, a ';' separator, a parameter given twice) is a 400 with a
// JSON error, as a bad after= is; it is never read as "no after" (a page
// from the oldest retained, the wrong page with a 200).
func TestHistoryMalformedQueryIs400(t *testing.T) {
	a := newTestAPI(t, withKeys)
	var ids []string
	for range 2 {
		ans := a.publish(t, "/v1/users/alice/events", `{"data":1}`)
		require.Equal(t, http.StatusCreated, ans.Status)
		ids = append(ids, ans.JSON(t)["id"].(string))
	}
	auth := "Authorization: Bearer " + token(t, "alice")
	for _, q := range []string{
		"after=%zz",
		"after=" + ids[0] + ";limit=1",
		"after=" + ids[0] + "&after=" + ids[1],
		"limit=1&limit=2",
	} {
		ans := a.do(t, http.MethodGet, "/v1/users/alice/events?"+q, nil, auth)
		if assert.Equal(t, http.StatusBadRequest, ans.Status, "?%s answered %s", q, ans.Body) {
			ans.ErrorMsg(t)
		}
	}
}

// TestEmptyOrRepeatedIdempotencyKeyIs400: a publish that sends the header
// asks for idempotency; an empty key, or two keys, cannot give it, so it is
// refused (400, nothing stored) rather than stored as an unkeyed publish
// that a retry would store again.
func TestEmptyOrRepeatedIdempotencyKeyIs400(t *testing.T) {
	a := newTestAPI(t, withKeys)
	for _, path := range []string{"/v1/users/alice/events", "/v1/broadcast", "/v1/events"} {
		body := `{"data":1}`
		if path == "/v1/events" {
			body = `[{"data":1}]`
		}
		for _, hs := range [][]string{{"Idempotency-Key: "}, {"Idempotency-Key: k1", "Idempotency-Key: k2"}} {
			before := a.stats(t)
			for range 2 { // a client's retry
				ans := a.publish(t, path, body, hs...)
				if assert.Equal(t, http.StatusBadRequest, ans.Status, "%s %q answered %s", path, hs, ans.Body) {
					ans.ErrorMsg(t)
				}
			}
			assert.Equal(t, before, a.stats(t), "%s %q stored something", path, hs)
		}
	}
}

// TestOpenAPIDocumentsHeadRoutes: DESIGN says HEAD on every GET route, and
// the router has them; the description lists each, with the statuses its
// GET has (HEAD runs the same checks).
func TestOpenAPIDocumentsHeadRoutes(t *testing.T) {
	a := newTestAPI(t, withKeys)
	b, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	documented := loadOpenAPI(t, b).documented()
	for _, rt := range a.Srv.headRoutes(a.Srv.routes()) {
		if rt.method != http.MethodHead {
			continue
		}
		head, ok := documented["HEAD "+rt.path]
		if !assert.True(t, ok, "HEAD %s is routed but not documented", rt.path) {
			continue
		}
		get := documented["GET "+rt.path]
		slices.Sort(head)
		slices.Sort(get)
		assert.Equal(t, get, head, "HEAD %s documents other statuses than GET", rt.path)
	}
}

// TestHistoryPageSchemaHasEveryField: every member the history answer can
// carry ("more" when a page stops at its byte bound) is in HistoryPage.
func TestHistoryPageSchemaHasEveryField(t *testing.T) {
	b, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	props := doc.Components.Schemas["HistoryPage"].Properties
	typ := reflect.TypeFor[historyEnd]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		assert.Contains(t, props, name, "history answers %q, HistoryPage lacks it", name)
	}
}

// TestCORSExposesWWWAuthenticate: a cross-origin client told 401 must be
// able to read RFC 6750's error="invalid_token" (a fresh token helps) apart
// from a missing credential.
func TestCORSExposesWWWAuthenticate(t *testing.T) {
	const app = "https://app.example"
	a := newTestAPI(t, withKeys, func(c *Config) { c.CORSOrigins = []string{app} })
	ans := a.do(t, http.MethodGet, "/v1/users/alice/events", nil, "Origin: "+app, "Authorization: Bearer forged")
	require.Equal(t, http.StatusUnauthorized, ans.Status)
	require.Equal(t, app, ans.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, ans.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
	assert.Contains(t, ans.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate")
}
