package stream

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

// FuzzLastEventID: whatever resume point a client sends, in the
// Last-Event-ID header or the lastEventId query parameter, the stream
// opens with 200, a connected event without an id that echoes the
// resume point (bounded), then exactly what the model says: nothing more
// for no resume point; an invalid-last-event-id gap for text that is not
// an id; an unknown-last-event-id gap for an id above the newest; else
// every event after it for the user, in order. Then the live tail (a
// heartbeat, since nothing else is published). Seeds live in
// testdata/fuzz/FuzzLastEventID.
func FuzzLastEventID(f *testing.F) {
	ts := newServer(f, eventlog.Options{}, Options{Heartbeat: 2 * time.Millisecond})
	var ids []eventlog.ID // the user's events and broadcasts, in order
	for i, user := range []string{"u", "", "other", "u", "", "other", "u"} {
		id := ts.append(f, user, "n", `{"i":`+string(rune('0'+i))+`}`)
		if user != "other" {
			ids = append(ids, id)
		}
	}
	last := ts.log.Last()
	above := last
	if err := above.SetTime(above.Time() + 1); err != nil { // not [15]++: 0xff wraps below last
		f.Fatal(err)
	}
	for _, s := range []string{"", "  ", eventlog.ZeroID.String(), ids[0].String(), ids[3].String(),
		strings.ToLower(ids[2].String()), " " + ids[1].String() + "\t", last.String(), above.String(),
		"7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		"\x00", "a\nb", strings.Repeat("é", 300), "\xff\xfe", "\u0085" + ids[0].String()} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want := modelResume(raw, ids, last)
		for _, viaHeader := range []bool{true, false} {
			if viaHeader && !validHeaderValue(raw) {
				continue // no client can send it
			}
			header, query := raw, ""
			if !viaHeader {
				header, query = "", raw
			}
			got := openingMessages(t, ts, header, query)
			if len(got) != len(want) {
				t.Fatalf("resume point %q (header=%v): got %d messages %+v, want %+v", raw, viaHeader, len(got), got, want)
			}
			for i := range want {
				checkMessage(t, raw, viaHeader, got[i], want[i])
			}
		}
	})
}

// expected is one message the model predicts: an event id, or a server
// event with its data fields.
type expected struct {
	id    string
	event string // "connected" or "gap" for server events
	echo  string // lastEventId echoed back
	gap   string // gap reason
}

// modelResume predicts the opening of a stream for user "u" whose log
// holds ids (its events and broadcasts) and whose newest id is last.
func modelResume(raw string, ids []eventlog.ID, last eventlog.ID) []expected {
	x := strings.TrimSpace(raw)
	echo := jsonRoundTrip(sse.Clip(x, maxEcho))
	out := []expected{{event: "connected", echo: echo}}
	id, err := eventlog.ParseID(x)
	switch {
	case x == "":
	case err != nil:
		out = append(out, expected{event: "gap", gap: gapInvalid, echo: echo})
	case id.Compare(last) > 0:
		out = append(out, expected{event: "gap", gap: gapUnknown, echo: echo})
	default:
		for _, e := range ids {
			if e.Compare(id) > 0 {
				out = append(out, expected{id: e.String()})
			}
		}
	}
	return out
}

// jsonRoundTrip is s as a JSON decoder reads it back after encoding
// (invalid UTF-8 becomes U+FFFD).
func jsonRoundTrip(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

func checkMessage(t *testing.T, raw string, viaHeader bool, m sse.Message, w expected) {
	t.Helper()
	if w.event == "" {
		if m.ID != w.id || m.Event != "n" {
			t.Fatalf("resume point %q (header=%v): got %+v, want event %s", raw, viaHeader, m, w.id)
		}
		return
	}
	if m.Event != w.event || m.ID != "" {
		t.Fatalf("resume point %q (header=%v): got %+v, want a %s event without id", raw, viaHeader, m, w.event)
	}
	var d struct {
		UserID, LastEventID, Reason string
	}
	if err := json.Unmarshal([]byte(m.Data), &d); err != nil {
		t.Fatalf("%s data %q: %v", m.Event, m.Data, err)
	}
	if d.LastEventID != w.echo || d.Reason != w.gap || utf8.RuneCountInString(d.LastEventID) > maxEcho+1 {
		t.Fatalf("resume point %q (header=%v): %s data %s, want lastEventId %q reason %q", raw, viaHeader, m.Event, m.Data, w.echo, w.gap)
	}
}

// validHeaderValue reports whether an HTTP client may send v as a header
// value (no control bytes but tab).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// openingMessages opens u's stream and returns every event before the
// first heartbeat: what the server sends before it waits on the tail.
func openingMessages(t *testing.T, ts *testServer, header, query string) []sse.Message {
	t.Helper()
	c, err := ts.dial("u", header, query)
	if err != nil {
		t.Fatalf("dial with header %q query %q: %v", header, query, err)
	}
	defer c.Close()
	if c.Resp.StatusCode != http.StatusOK || c.Resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d %q", c.Resp.StatusCode, c.Resp.Header.Get("Content-Type"))
	}
	deadline := time.After(10 * time.Second)
	for c.Comments() == 0 {
		select {
		case <-deadline:
			t.Fatal("no heartbeat within 10 s")
		case <-time.After(time.Millisecond):
		}
	}
	// Events parsed before the heartbeat are already in the channel.
	var out []sse.Message
	for {
		select {
		case m, ok := <-c.Events():
			if !ok {
				return out
			}
			out = append(out, m)
		default:
			return out
		}
	}
}
