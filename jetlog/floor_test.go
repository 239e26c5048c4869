package jetlog_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/jetlog"
	"github.com/sselog/sselog/jetlog/jetlogtest"
	"github.com/sselog/sselog/stream"
)

// TestAgeGapResumeOnAnotherNode: a reader whose events all aged out gets
// a gap whose Through (its resumeFrom, which clients keep until their
// next event) is the sequence just below the stream's first; that
// message is gone, so Through carries no time. Resumed from on a node
// whose memory still holds that sequence as an event, it was called
// unknown: the reader skipped to that node's newest event and lost the
// ones in between.
func TestAgeGapResumeOnAnotherNode(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	opts := jetlog.Options{Stream: "AGED", MaxAge: time.Second}
	b := jetlogtest.Open(t, srv.ClientURL(), opts) // its memory holds every event
	ctx := context.Background()
	app := func(l *jetlog.Log, user string) eventlog.ID {
		id, err := l.Append(ctx, eventlog.Input{User: user, Data: []byte(`1`)})
		require.NoError(t, err)
		return id
	}
	seen := app(b, "u")
	app(b, "v")
	last := app(b, "v")
	require.Eventually(t, func() bool { return b.Last() == last }, 10*time.Second, 5*time.Millisecond)

	a := jetlogtest.Open(t, srv.ClientURL(), opts) // restarted since: reads below its floor go to the stream
	var gap *eventlog.Gap
	require.Eventually(t, func() bool {
		p, err := a.ReadAfter("u", seen, 100)
		require.NoError(t, err)
		gap = p.Gap
		return gap != nil && len(p.Events) == 0 && string(gap.Through[:8]) == string(last[:8])
	}, 20*time.Second, 50*time.Millisecond, "everything ages out: a gap through the last sequence")

	want := app(a, "u")
	require.Eventually(t, func() bool { return b.Last() == want }, 10*time.Second, 5*time.Millisecond)
	p, err := b.ReadAfter("u", gap.Through, 100) // the client's resumeFrom, on the other node
	require.NoError(t, err)
	require.False(t, p.Unknown, "a gap's Through is a resume point this stream gave out")
	require.Equal(t, []eventlog.ID{want}, eventlogtest.IDs(p.Events))
}

// TestPageBytesAcrossTheFloor: a read from below the node's floor with
// nothing of the reader's there, answered from memory above it, stops at
// the byte bound: the page must say Truncated, or a subscriber takes it
// for the end and waits for the next publish while the rest is held.
// The memory part's Truncated was dropped.
func TestPageBytesAcrossTheFloor(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	opts := jetlog.Options{Stream: "FLOORBYTES", PageBytes: 2048}
	pre := jetlogtest.Open(t, srv.ClientURL(), opts)
	ctx := context.Background()
	app := func(l *jetlog.Log, user, data string) eventlog.ID {
		id, err := l.Append(ctx, eventlog.Input{User: user, Data: []byte(data)})
		require.NoError(t, err)
		return id
	}
	seen := app(pre, "u", `0`)
	app(pre, "v", `1`)
	l := jetlogtest.Open(t, srv.ClientURL(), opts) // its floor: v's event
	big := `"` + strings.Repeat("x", 1000) + `"`
	var ids []eventlog.ID
	for range 5 {
		ids = append(ids, app(l, "u", big))
	}
	require.Eventually(t, func() bool { return l.Last() == ids[4] }, 10*time.Second, 5*time.Millisecond)
	p, err := l.ReadAfter("u", seen, 100)
	require.NoError(t, err)
	require.Equal(t, ids[:3], eventlogtest.IDs(p.Events), "stops once the page holds 2048 bytes")
	assert.True(t, p.Truncated, "more is held: the page is full")

	// On the wire: a subscriber resuming there gets all five without
	// another publish. It got three and waited.
	hub := stream.NewHub()
	h := stream.NewHandler(l, hub, stream.Options{Heartbeat: time.Hour})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream/{user}", func(w http.ResponseWriter, r *http.Request) { h.Serve(w, r, r.PathValue("user")) })
	web := httptest.NewServer(mux)
	t.Cleanup(func() { hub.Close(); web.Close() })
	c := testkit.Subscribe(t, web.URL+"/stream/u?lastEventId="+seen.String(), nil)
	var got []eventlog.ID
	for len(got) < len(ids) {
		id, err := eventlog.ParseID(c.NextData(10 * time.Second).ID)
		require.NoError(t, err)
		got = append(got, id)
	}
	require.Equal(t, ids, got)
}
