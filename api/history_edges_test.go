package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
)

type historyAnswer struct {
	Events []struct{ ID string }
	Next   string
	Gap    *struct{ Reason, OldestID string }
}

func (a *testAPI) history(t *testing.T, user, after string) historyAnswer {
	t.Helper()
	ans := a.do(t, http.MethodGet, "/v1/users/"+user+"/events?limit=100&after="+after, nil, "Authorization: Bearer "+token(t, user))
	require.Equal(t, http.StatusOK, ans.Status, "%s", ans.Body)
	var h historyAnswer
	decodeInto(t, ans.Body, &h)
	return h
}

// After a restore, a cursor issued after the backup was taken is unknown,
// on every poll however many events the restored file stores since, and
// next moves to the newest id.
func TestHistoryUnknownAfterRestore(t *testing.T) {
	old := eventlogtest.Open(t, eventlog.Options{})
	ctx := t.Context()
	first, err := old.Append(ctx, eventlog.Input{User: "alice", Data: []byte(`1`)})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "restored.db")
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = old.Snapshot(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	lost, err := old.Append(ctx, eventlog.Input{User: "alice", Data: []byte(`2`)})
	require.NoError(t, err)

	lg := eventlogtest.OpenAt(t, path, eventlog.Options{})
	srv, err := New(lg, Config{PublisherKey: testKey, SubscriberSecret: testSecret})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	a := &testAPI{URL: ts.URL, Log: lg, Srv: srv, TS: ts}
	for range 3 {
		newest := a.publish(t, "/v1/users/bob/events", `{"data":3}`).JSON(t)["id"].(string)
		h := a.history(t, "alice", lost.String())
		require.NotNil(t, h.Gap)
		assert.Equal(t, "unknown-last-event-id", h.Gap.Reason)
		assert.Equal(t, first.String(), h.Gap.OldestID)
		assert.Empty(t, h.Events)
		assert.Equal(t, newest, h.Next)
	}
}

// A retention hole is reported on the first page, naming the first
// retained id after the cursor (not the cursor itself), and no more once
// the cursor passes the hole. History is stateless: a page whose cursor
// is still below the hole's end (more broadcasts kept below the user's
// mark) reports it again, naming that page's first event; a stream
// reports it once.
func TestHistoryOneHoleOneGap(t *testing.T) {
	a := newTestAPILog(t, eventlog.Options{MaxEvents: 5}, withKeys)
	resume := a.publish(t, "/v1/broadcast", `{"data":"b0"}`).JSON(t)["id"].(string)
	var want []string
	for i := range 250 {
		if i%50 == 0 {
			a.publish(t, "/v1/users/alice/events", `{"data":"deleted"}`)
		}
		want = append(want, a.publish(t, "/v1/broadcast", `{"data":"b"}`).JSON(t)["id"].(string))
	}
	for range 5 {
		want = append(want, a.publish(t, "/v1/users/alice/events", `{"data":"kept"}`).JSON(t)["id"].(string))
	}
	_, err := a.Log.Compact(t.Context())
	require.NoError(t, err)

	var got []string
	for after, page := resume, 0; ; page++ {
		h := a.history(t, "alice", after)
		if page == 0 {
			require.NotNil(t, h.Gap)
			assert.Equal(t, "retention", h.Gap.Reason)
		}
		if h.Gap != nil {
			require.NotEmpty(t, h.Events)
			assert.Equal(t, h.Events[0].ID, h.Gap.OldestID, "the first retained id after the cursor")
		}
		if len(got) >= 250 {
			assert.Nil(t, h.Gap, "past the hole")
		}
		for _, e := range h.Events {
			got = append(got, e.ID)
		}
		if len(h.Events) == 0 {
			break
		}
		after = h.Next
	}
	assert.Equal(t, want, got)
}

// When everything after the cursor was deleted, one gap; polling on from
// next finds the next event without another.
func TestHistoryOneGapWhenAllDeleted(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	a := newTestAPILog(t, eventlog.Options{MaxAge: time.Hour, Now: func() time.Time { return time.Unix(0, now.Load()) }}, withKeys)
	var ids []string
	for i := range 5 {
		ids = append(ids, a.publish(t, "/v1/users/alice/events", fmt.Sprintf(`{"data":%d}`, i)).JSON(t)["id"].(string))
	}
	now.Add(int64(2 * time.Hour))
	_, err := a.Log.Compact(t.Context())
	require.NoError(t, err)

	h := a.history(t, "alice", ids[2])
	require.NotNil(t, h.Gap)
	assert.Equal(t, "retention", h.Gap.Reason)
	assert.Empty(t, h.Gap.OldestID)
	h = a.history(t, "alice", h.Next)
	assert.Nil(t, h.Gap, "the same hole again")
	live := a.publish(t, "/v1/users/alice/events", `{"data":"live"}`).JSON(t)["id"].(string)
	h = a.history(t, "alice", h.Next)
	assert.Nil(t, h.Gap, "the same hole again")
	require.Len(t, h.Events, 1)
	assert.Equal(t, live, h.Events[0].ID)
}

func decodeInto(t *testing.T, b []byte, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(b, v), "body %s", b)
}
