package storetest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/stream"
)

// Honest gaps on the wire, through the real SSE handler: a resume point
// that is not an id, one above everything issued, and one older than
// what retention kept each open with their event: gap, then the events.
func testGapEvents(t *testing.T, open Opener) {
	const keep = 3
	s := open(t, Options{MaxEvents: keep})
	hub := stream.NewHub()
	h := stream.NewHandler(s, hub, stream.Options{Heartbeat: time.Hour})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream/{user}", func(w http.ResponseWriter, r *http.Request) { h.Serve(w, r, r.PathValue("user")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { hub.Close(); srv.Close() })

	ids := appendN(t, s, "u", 8)
	testkit.WaitFor(t, wait, "retention to apply the cap", func() bool {
		st, err := s.Stats()
		require.NoError(t, err)
		return st.Events == keep
	})
	kept := ids[len(ids)-keep:]
	waitLast(t, s, kept[keep-1])
	// Above everything issued: a later millisecond. (Adding one to the
	// last byte wrapped to a lower id when that byte was 0xff: one run
	// in 256 hung here waiting for a gap.)
	future := kept[keep-1]
	require.NoError(t, future.SetTime(future.Time()+1))

	type gap struct{ Reason, LastEventID, OldestID string }
	for _, tc := range []struct {
		resume     string
		wantReason string
		wantOldest eventlog.ID
		wantEvents []eventlog.ID
	}{
		{"7c9e6679-7425-40de-944b-e07fc1f90ae7", "invalid-last-event-id", kept[0], nil},
		{future.String(), "unknown-last-event-id", kept[0], nil},
		{ids[0].String(), "retention", kept[0], kept},
		{ids[len(ids)-keep-1].String(), "", eventlog.ZeroID, kept},
	} {
		c := testkit.Subscribe(t, srv.URL+"/stream/u?lastEventId="+url.QueryEscape(tc.resume), nil)
		require.Equal(t, "connected", c.Next(wait).Event)
		var got []eventlog.ID
		var g *gap
		for len(got) < len(tc.wantEvents) || (tc.wantReason != "" && g == nil) {
			m := c.Next(wait)
			if m.Event == "gap" {
				g = new(gap)
				require.NoError(t, json.Unmarshal([]byte(m.Data), g))
				continue
			}
			id, err := eventlog.ParseID(m.ID)
			require.NoError(t, err)
			got = append(got, id)
		}
		if tc.wantReason == "" {
			assert.Nil(t, g, "resume at %s", tc.resume)
		} else {
			require.NotNil(t, g)
			assert.Equal(t, tc.wantReason, g.Reason, "resume at %s", tc.resume)
			assert.Equal(t, tc.wantOldest.String(), g.OldestID, "resume at %s", tc.resume)
		}
		assert.Equal(t, tc.wantEvents, got, "resume at %s", tc.resume)
		assert.True(t, c.Quiet(50*time.Millisecond), "nothing more")
		c.Close()
	}
}
