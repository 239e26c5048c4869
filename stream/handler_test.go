package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/sse"
)

const wait = 10 * time.Second // bound on any single wait in these tests

func decode[T any](tb testing.TB, data string) T {
	tb.Helper()
	var v T
	require.NoError(tb, json.Unmarshal([]byte(data), &v), "data %q", data)
	return v
}

// expectConnected reads the connected event and checks its data.
func expectConnected(tb testing.TB, c *sseClient, user, lastEventID string) {
	tb.Helper()
	m, ok := c.Recv(wait)
	if !ok {
		tb.Fatalf("stream ended before connected: %v", c.Err())
	}
	require.Equal(tb, "connected", m.Event)
	require.Equal(tb, "", m.ID, "connected must not carry an id")
	d := decode[connectedData](tb, m.Data)
	assert.Equal(tb, user, d.UserID)
	assert.Equal(tb, lastEventID, d.LastEventID)
	_, err := time.Parse(time.RFC3339Nano, d.Timestamp)
	assert.NoError(tb, err)
	from, err := eventlog.ParseID(d.ResumeFrom)
	require.NoError(tb, err, "resumeFrom is always an id")
	if id, err := eventlog.ParseID(lastEventID); err == nil {
		assert.Equal(tb, id, from, "a valid resume point is where the stream resumes from")
	}
}

// connectedFrom reads the connected event and returns its resumeFrom.
func connectedFrom(tb testing.TB, c *sseClient) string {
	tb.Helper()
	m, ok := c.Recv(wait)
	if !ok {
		tb.Fatalf("stream ended before connected: %v", c.Err())
	}
	require.Equal(tb, "connected", m.Event)
	return decode[connectedData](tb, m.Data).ResumeFrom
}

func expectGap(tb testing.TB, c *sseClient, want gapData) {
	tb.Helper()
	m, ok := c.Recv(wait)
	if !ok {
		tb.Fatalf("stream ended before gap: %v", c.Err())
	}
	require.Equal(tb, "gap", m.Event, "data %s", m.Data)
	assert.Equal(tb, want, decode[gapData](tb, m.Data))
}

// expectEvents reads len(ids) events and checks their ids in order.
func expectEvents(tb testing.TB, c *sseClient, ids ...eventlog.ID) {
	tb.Helper()
	for i, id := range ids {
		m, ok := c.Recv(wait)
		if !ok {
			tb.Fatalf("stream ended at event %d: %v", i, c.Err())
		}
		require.Equal(tb, id.String(), m.ID, "event %d (%s %s)", i, m.Event, m.Data)
	}
}

func TestStreamHeadersAndConnectedFrame(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Retry: 1500 * time.Millisecond})
	prev := ts.append(t, "alice", "n", `1`)
	next := ts.append(t, "alice", "n", `{"b": 2}`)

	req, err := http.NewRequest(http.MethodGet, ts.srv.URL+"/stream/alice", nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", prev.String())
	resp, err := ts.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-cache, no-transform", resp.Header.Get("Cache-Control"))
	assert.True(t, resp.Close, "Connection: close: this stream is detached, and its end closes the connection")
	assert.Equal(t, "no", resp.Header.Get("X-Accel-Buffering"))

	// The raw bytes: retry, connected without id, then the event.
	br := bufio.NewReader(resp.Body)
	var raw []string
	for len(raw) < 8 {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		raw = append(raw, line)
	}
	assert.Equal(t, "retry: 1500\n", raw[0])
	assert.Equal(t, "event: connected\n", raw[1])
	assert.True(t, strings.HasPrefix(raw[2], `data: {"userId":"alice","timestamp":"`), raw[2])
	assert.True(t, strings.HasSuffix(raw[2], `","lastEventId":"`+prev.String()+`","resumeFrom":"`+prev.String()+"\"}\n"), raw[2])
	assert.Equal(t, []string{"\n", "id: " + next.String() + "\n", "event: n\n", "data: {\"b\": 2}\n", "\n"}, raw[3:])
}

func TestConnectedDoesNotMoveLastEventID(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{})
	a := ts.append(t, "u", "", `1`)
	b := ts.append(t, "", "", `2`)

	// The server's first frame, raw, read by a parser that already holds
	// an id (a browser reconnecting): connected must leave it alone.
	req, err := http.NewRequest(http.MethodGet, ts.srv.URL+"/stream/u", nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", a.String())
	resp, err := ts.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var frame strings.Builder
	for !strings.HasSuffix(frame.String(), "\n\n") {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		frame.WriteString(line)
	}
	require.NotContains(t, frame.String(), "id:")
	p := sse.NewParser(io.MultiReader(strings.NewReader("id: "+a.String()+"\ndata: seen\n\n"+frame.String()), br))
	m, err := p.Next()
	require.NoError(t, err)
	require.Equal(t, "seen", m.Data)
	m, err = p.Next()
	require.NoError(t, err)
	require.Equal(t, "connected", m.Event)
	assert.Equal(t, a.String(), m.ID, "connected did not move the last event id")
	m, err = p.Next()
	require.NoError(t, err)
	assert.Equal(t, b.String(), m.ID)
	assert.Equal(t, "message", m.Event, "no event: line for a default name")
	assert.Equal(t, "2", m.Data)
}

func TestResumePoint(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{})
	var ids, lives []eventlog.ID
	for i := range 5 {
		ids = append(ids, ts.append(t, "u", "n", fmt.Sprint(i)))
	}
	for _, tc := range []struct {
		name, header, query, echo string
		want                      []eventlog.ID
	}{
		{"header", ids[1].String(), "", ids[1].String(), ids[2:]},
		{"query", "", ids[2].String(), ids[2].String(), ids[3:]},
		{"header wins over query", ids[3].String(), ids[0].String(), ids[3].String(), ids[4:]},
		{"blank header falls back to query", "  ", ids[3].String(), ids[3].String(), ids[4:]},
		{"lower case id", "", strings.ToLower(ids[2].String()), strings.ToLower(ids[2].String()), ids[3:]},
		{"zero id replays from the oldest", eventlog.ZeroID.String(), "", eventlog.ZeroID.String(), ids},
		{"last id replays nothing", ids[4].String(), "", ids[4].String(), nil},
	} {
		tc.want = slices.Clone(tc.want)
		t.Run(tc.name, func(t *testing.T) {
			c := ts.connect(t, "u", tc.header, tc.query)
			expectConnected(t, c, "u", tc.echo)
			expectEvents(t, c, append(tc.want, lives...)...)
			live := ts.append(t, "u", "n", `"live"`)
			expectEvents(t, c, live)
			lives = append(lives, live) // later cases replay it too
			c.Close()
		})
	}
}

func TestNoResumePointIsLiveTail(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{})
	ts.append(t, "u", "", `"old"`)
	c := ts.connect(t, "u", "", "")
	expectConnected(t, c, "u", "")
	require.True(t, c.Quiet(100*time.Millisecond), "nothing replayed")
	live := ts.append(t, "u", "", `"new"`)
	expectEvents(t, c, live)
}

func TestTwoTabsOfOneUserBothReceiveEverything(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{})
	tabs := []*sseClient{ts.connect(t, "alice", "", ""), ts.connect(t, "alice", "", "")}
	other := ts.connect(t, "bob", "", "")
	for _, c := range append(tabs, other) {
		m, ok := c.Recv(wait)
		require.True(t, ok)
		require.Equal(t, "connected", m.Event)
	}
	var mine, bobs []eventlog.ID
	for i := range 50 {
		switch i % 3 {
		case 0:
			id := ts.append(t, "", "", fmt.Sprint(i))
			mine, bobs = append(mine, id), append(bobs, id)
		case 1:
			mine = append(mine, ts.append(t, "alice", "", fmt.Sprint(i)))
		default:
			bobs = append(bobs, ts.append(t, "bob", "", fmt.Sprint(i)))
		}
	}
	for _, c := range tabs {
		expectEvents(t, c, mine...)
	}
	expectEvents(t, other, bobs...)
	assert.Equal(t, int64(3), ts.hub.Stats().Subscribers)
}

func TestGapAfterRetention(t *testing.T) {
	ts := newServer(t, eventlog.Options{MaxEvents: 5}, Options{})
	var ids []eventlog.ID
	for i := range 12 {
		ids = append(ids, ts.append(t, "u", "", fmt.Sprint(i)))
	}
	n, err := ts.log.Compact(context.Background())
	require.NoError(t, err)
	require.Equal(t, 7, n)

	c := ts.connect(t, "u", ids[2].String(), "")
	expectConnected(t, c, "u", ids[2].String())
	expectGap(t, c, gapData{Reason: gapRetention, LastEventID: ids[2].String(), OldestID: ids[7].String(), ResumeFrom: ids[6].String()})
	expectEvents(t, c, ids[7:]...)
	live := ts.append(t, "u", "", `"live"`)
	expectEvents(t, c, live)
	assert.Equal(t, uint64(1), ts.hub.Stats().Gaps)

	// Resuming from a retained id is not a gap.
	c2 := ts.connect(t, "u", ids[8].String(), "")
	expectConnected(t, c2, "u", ids[8].String())
	expectEvents(t, c2, append(ids[9:], live)...)
}

func TestGapForInvalidResumePoint(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{})
	first := ts.append(t, "", "", `"broadcast"`)
	ts.append(t, "u", "", `"old"`)
	for _, tc := range []struct{ name, header, query string }{
		{"UUID header", "3f8a3c1e-5b1d-4c1b-9a53-2f1e0b6c7d8e", ""},
		{"UUID query", "", "3f8a3c1e-5b1d-4c1b-9a53-2f1e0b6c7d8e"},
		{"garbage", "not an id; event: error", ""},
		{"overflowing ULID", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ", ""},
		{"25 chars", first.String()[:25], ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newest := ts.log.Last().String()
			c := ts.connect(t, "u", tc.header, tc.query)
			raw := tc.header + tc.query
			expectConnected(t, c, "u", raw)
			expectGap(t, c, gapData{Reason: gapInvalid, LastEventID: raw, OldestID: first.String(), ResumeFrom: newest})
			require.True(t, c.Quiet(50*time.Millisecond), "live tail only: nothing replayed")
			live := ts.append(t, "u", "", `"live"`)
			expectEvents(t, c, live)
		})
	}
	t.Run("no events held", func(t *testing.T) {
		ts := newServer(t, eventlog.Options{}, Options{})
		c := ts.connect(t, "nobody", "garbage", "")
		expectConnected(t, c, "nobody", "garbage")
		expectGap(t, c, gapData{Reason: gapInvalid, LastEventID: "garbage", OldestID: "", ResumeFrom: eventlog.ZeroID.String()})
	})
}

// TestResumePointInAQueryThatDoesNotParse: a lastEventId the query
// parser cannot read (a bad escape) is a resume point the stream cannot
// use, and says so with a gap. URL.Query dropped it, and the stream
// followed the live tail as if none had been sent.
func TestResumePointInAQueryThatDoesNotParse(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{})
	ts.append(t, "u", "", `1`)
	for _, query := range []string{"lastEventId=%zz", "x=%zz&lastEventId=01ARZ3NDEKTSV4RRFFQ69G5FAV%", "lastEventId=%zz;x"} {
		t.Run(query, func(t *testing.T) {
			c := testkit.Subscribe(t, ts.srv.URL+"/stream/u?"+query, nil)
			require.Equal(t, "connected", c.Next(wait).Event)
			m := c.Next(wait)
			require.Equal(t, "gap", m.Event, "%+v", m)
			require.Equal(t, gapInvalid, decode[gapData](t, m.Data).Reason)
		})
	}
}

func TestGapForUnknownFutureID(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{})
	first := ts.append(t, "u", "", `1`)
	future := ulid.MustNew(ulid.Timestamp(time.Now().Add(24*time.Hour)), ulid.DefaultEntropy())
	c := ts.connect(t, "u", "", future.String())
	expectConnected(t, c, "u", future.String())
	expectGap(t, c, gapData{Reason: gapUnknown, LastEventID: future.String(), OldestID: first.String(), ResumeFrom: first.String()})
	require.True(t, c.Quiet(50*time.Millisecond))
	live := ts.append(t, "u", "", `2`)
	expectEvents(t, c, live)
}

func TestHeartbeatOnIdleStream(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: 30 * time.Millisecond})
	c := ts.connect(t, "u", "", "")
	expectConnected(t, c, "u", "")
	waitFor(t, wait, "two heartbeats", func() bool { return c.Comments() >= 2 })
	// Counted after the write returns, which may follow the client's read.
	require.Eventually(t, func() bool { return ts.hub.Stats().Heartbeats >= 2 }, wait, time.Millisecond)
	// Heartbeats are comments: the stream still works.
	id := ts.append(t, "u", "", `1`)
	expectEvents(t, c, id)
}

func TestNoHeartbeatWhileBusy(t *testing.T) {
	const hb = 500 * time.Millisecond
	ts := newServer(t, eventlog.Options{}, Options{Heartbeat: hb})
	// Measured from before the connect: the server's silence starts at
	// the connected frame, and a stall of this goroutine between that
	// frame and the first publish must count as a gap too.
	prev := time.Now()
	c := ts.connect(t, "u", "", "")
	expectConnected(t, c, "u", "")
	var maxGap time.Duration
	for stop := prev.Add(2 * hb); prev.Before(stop); {
		expectEvents(t, c, ts.append(t, "u", "", `1`))
		time.Sleep(10 * time.Millisecond)
		now := time.Now()
		maxGap, prev = max(maxGap, now.Sub(prev)), now
	}
	if maxGap > hb/2 {
		t.Logf("the machine stalled for %v: a heartbeat could be due, not checking", maxGap)
		return
	}
	assert.Zero(t, c.Comments(), "events at most %v apart leave no %v silence", maxGap, hb)
}

func TestHubCloseEndsStreamsAndAnswersLaterRequests(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{Retry: 3 * time.Second})
	var cs []*sseClient
	for i := range 10 {
		c := ts.connect(t, fmt.Sprint("u", i%3), "", "")
		expectConnected(t, c, fmt.Sprint("u", i%3), "")
		cs = append(cs, c)
	}
	require.Equal(t, int64(10), ts.hub.Stats().Subscribers)
	ts.hub.Close()
	ts.hub.Close() // idempotent
	select {
	case <-ts.hub.Done():
	default:
		t.Fatal("Done not closed")
	}
	for _, c := range cs {
		_, ok := c.Recv(wait)
		require.False(t, ok, "stream ended")
		require.ErrorIs(t, c.Err(), io.EOF, "cleanly, at a frame boundary")
	}
	waitFor(t, wait, "no subscribers", func() bool { return ts.hub.Stats().Subscribers == 0 })

	// A later request gets 200, retry: and an immediate end.
	c := ts.connect(t, "u", "", "")
	_, ok := c.Recv(wait)
	require.False(t, ok)
	require.ErrorIs(t, c.Err(), io.EOF)
	assert.Equal(t, 3*time.Second, c.Retry())
}

// A Source whose reads fail ends the stream (the browser retries) without
// a 5xx.
type failingSource struct{ *eventlog.Log }

func (failingSource) ReadAfter(string, eventlog.ID, int) (eventlog.Page, error) {
	return eventlog.Page{}, fmt.Errorf("read: %w", eventlog.ErrClosed)
}

func TestReadErrorEndsStream(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{}, func(l *eventlog.Log) Source { return failingSource{l} })
	c := ts.connect(t, "u", "", "")
	expectConnected(t, c, "u", "")
	_, ok := c.Recv(wait)
	require.False(t, ok)
	require.ErrorIs(t, c.Err(), io.EOF)
}

// blockingSource holds every read until release is closed.
type blockingSource struct {
	*eventlog.Log
	release chan struct{}
}

func (s blockingSource) ReadAfter(user string, after eventlog.ID, limit int) (eventlog.Page, error) {
	<-s.release
	return s.Log.ReadAfter(user, after, limit)
}

func TestHeadersFlushedBeforeTheLogIsRead(t *testing.T) {
	release := make(chan struct{})
	ts := newServer(t, eventlog.Options{}, Options{}, func(l *eventlog.Log) Source { return blockingSource{l, release} })
	// An invalid resume point makes the handler read the log (for the
	// gap's oldestId) before its first frame.
	c := ts.connect(t, "u", "garbage", "")
	require.True(t, c.Quiet(50*time.Millisecond), "no frame while the read is held")
	close(release)
	expectConnected(t, c, "u", "garbage")
	expectGap(t, c, gapData{Reason: gapInvalid, LastEventID: "garbage", ResumeFrom: eventlog.ZeroID.String()})
}

func TestStoredEventWithUnsendableNameIsSkipped(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{})
	ts.append(t, "u", "has space", `1`) // eventlog takes it; the API would not
	good := ts.append(t, "u", "ok", `2`)
	c := ts.connect(t, "u", eventlog.ZeroID.String(), "")
	expectConnected(t, c, "u", eventlog.ZeroID.String())
	expectEvents(t, c, good)
	// The server counts after its flush returns, which can be after the
	// client has read the bytes: wait for the count, bounded.
	require.Eventually(t, func() bool { return ts.hub.Stats().Delivered == 1 }, wait, time.Millisecond)
	require.Never(t, func() bool { return ts.hub.Stats().Delivered > 1 }, 50*time.Millisecond, 5*time.Millisecond)
}

func TestHTTP2(t *testing.T) {
	ts := newHTTP2Server(t, Options{})
	l, hub, srv := ts.log, ts.hub, ts.srv

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", eventlog.ZeroID.String())
	first, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte("1")})
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	c := testkit.Read(ctx, cancel, resp).Bind(t)
	require.Equal(t, 2, resp.ProtoMajor)
	assert.Equal(t, int64(0), hub.Stats().Detached, "HTTP/2 streams stay on net/http")
	assert.Empty(t, resp.Header.Get("Connection"), "no connection-specific header in HTTP/2")
	expectConnected(t, c, "u", eventlog.ZeroID.String())
	second, err := l.Append(ctx, eventlog.Input{Data: []byte("2")})
	require.NoError(t, err)
	expectEvents(t, c, first, second)

	hub.Close()
	_, ok := c.Recv(wait)
	require.False(t, ok)
	require.ErrorIs(t, c.Err(), io.EOF, "the stream ended cleanly")
}
