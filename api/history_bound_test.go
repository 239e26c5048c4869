package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
)

// TestHistoryBoundedInBytes: limit=10000 over large events answers a page
// bounded in bytes (the log's page bound), says "more", and next leads
// through every event exactly once. The stream replays the same events
// whole, page after byte-bounded page.
func TestHistoryBoundedInBytes(t *testing.T) {
	a := newTestAPI(t, withKeys)
	big := `{"data":"` + strings.Repeat("x", 60<<10) + `"}`
	var ids []string
	for range 20 { // 1.2 MB in all
		ans := a.publish(t, "/v1/users/alice/events", big)
		require.Equal(t, http.StatusCreated, ans.Status, "%s", ans.Body)
		ids = append(ids, ans.JSON(t)["id"].(string))
	}
	auth := "Authorization: Bearer " + token(t, "alice")
	var got []string
	pages := 0
	for after := ""; ; pages++ {
		ans := a.do(t, http.MethodGet, "/v1/users/alice/events?limit=10000&after="+after, nil, auth)
		require.Equal(t, http.StatusOK, ans.Status)
		assert.Less(t, len(ans.Body), eventlog.DefaultPageBytes+(70<<10), "a page is bounded in bytes")
		var p struct {
			Events []struct{ ID string }
			Next   string
			More   bool
		}
		require.NoError(t, json.Unmarshal(ans.Body, &p))
		if len(p.Events) == 0 {
			assert.False(t, p.More)
			break
		}
		for _, e := range p.Events {
			got = append(got, e.ID)
		}
		assert.Equal(t, len(got) < len(ids), p.More, "more says whether the page was cut")
		after = p.Next
	}
	assert.Equal(t, ids, got)
	assert.Greater(t, pages, 3)

	sub := testkit.Subscribe(t, a.URL+"/v1/users/alice/stream?token="+token(t, "alice"), http.Header{"Last-Event-ID": {eventlog.ZeroID.String()}})
	require.Equal(t, "connected", sub.Next(5*time.Second).Event)
	for _, id := range ids {
		assert.Equal(t, id, sub.NextData(10*time.Second).ID)
	}
}
