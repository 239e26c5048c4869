package sse

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Message
		want string
	}{
		{"data only", Message{Data: `{"a":1}`}, "data: {\"a\":1}\n\n"},
		{"all fields", Message{ID: "01J", Event: "note", Data: "x", Retry: 2 * time.Second}, "retry: 2000\nid: 01J\nevent: note\ndata: x\n\n"},
		{"empty data still dispatches", Message{Event: "e"}, "event: e\ndata: \n\n"},
		{"LF", Message{Data: "a\nb"}, "data: a\ndata: b\n\n"},
		{"CR", Message{Data: "a\rb"}, "data: a\ndata: b\n\n"},
		{"CRLF", Message{Data: "a\r\nb"}, "data: a\ndata: b\n\n"},
		{"LFCR is two breaks", Message{Data: "a\n\rb"}, "data: a\ndata: \ndata: b\n\n"},
		{"trailing newline", Message{Data: "a\n"}, "data: a\ndata: \n\n"},
		{"leading space kept", Message{Data: "  a"}, "data:   a\n\n"},
		{"U+2028 is not a line end", Message{Data: "a\u2028b\u2029c\vd\fe"}, "data: a\u2028b\u2029c\vd\fe\n\n"},
		{"sub-millisecond retry truncates", Message{Data: "x", Retry: 1500 * time.Microsecond}, "retry: 1\ndata: x\n\n"},
		{"event named message is written", Message{Event: "message", Data: "x"}, "event: message\ndata: x\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, WriteMessage(&b, tc.m))
			assert.Equal(t, tc.want, b.String())
		})
	}
}

func TestWriteMessageRefusesInjection(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Message
	}{
		{"id with LF", Message{ID: "1\ndata: x", Data: "d"}},
		{"id with CR", Message{ID: "1\r", Data: "d"}},
		{"id with CRLF", Message{ID: "1\r\nevent: error", Data: "d"}},
		{"id with NUL", Message{ID: "1\x002", Data: "d"}},
		{"id not UTF-8", Message{ID: "1\xff", Data: "d"}},
		{"event with LF", Message{Event: "a\ndata: x", Data: "d"}},
		{"event with CR", Message{Event: "a\r", Data: "d"}},
		{"event with NUL", Message{Event: "a\x00", Data: "d"}},
		{"event with space", Message{Event: "a b", Data: "d"}},
		{"event with colon space", Message{Event: "a: b", Data: "d"}},
		{"event not ASCII", Message{Event: "é", Data: "d"}},
		{"event too long", Message{Event: strings.Repeat("a", 129), Data: "d"}},
		{"negative retry", Message{Data: "d", Retry: -time.Second}},
		{"smallest negative retry", Message{Data: "d", Retry: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			require.ErrorIs(t, WriteMessage(&b, tc.m), ErrInvalidField)
			assert.Zero(t, b.Len(), "nothing written")
		})
	}
	var b bytes.Buffer
	require.NoError(t, WriteMessage(&b, Message{Event: strings.Repeat("a", 128), Data: "d"}))
	require.NoError(t, WriteMessage(&b, Message{Event: "Az09_.:-", Data: "d"}))
}

func TestStoredEventWithBadNameIsRefused(t *testing.T) {
	// eventlog refuses control characters; the frame also refuses the
	// names the HTTP API would not accept.
	_, err := AppendEvent(nil, []byte("00000000000000000000000000"), "a b", []byte("1"))
	require.ErrorIs(t, err, ErrInvalidField)
	_, err = AppendEvent(nil, []byte("0000000000000\n000000000000"), "a", []byte("1"))
	require.ErrorIs(t, err, ErrInvalidField)
	b, err := AppendEvent(nil, []byte("01J00000000000000000000000"), "", []byte("a\rb"))
	require.NoError(t, err)
	require.Equal(t, "id: 01J00000000000000000000000\ndata: a\ndata: b\n\n", string(b))
}

func TestWriteComment(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteComment(&b, "heartbeat"))
	require.NoError(t, WriteComment(&b, "two\r\nlines"))
	assert.Equal(t, ": heartbeat\n: two\n: lines\n", b.String())
	var got []string
	p := NewParser(strings.NewReader(b.String() + "data: x\n\n"))
	p.OnComment = func(s string) { got = append(got, s) }
	_, err := p.Next()
	require.NoError(t, err)
	assert.Equal(t, []string{"heartbeat", "two", "lines"}, got)
}

func TestFormatParseRoundTrip(t *testing.T) {
	payloads := []string{
		"",
		"plain",
		`{"a":"b"}`,
		"a\nb",
		"a\rb",
		"a\r\nb",
		"a\n\nb",
		"\r\n",
		"\n",
		"trailing\n",
		"trailing\r",
		" one leading space",
		"   three leading spaces",
		": looks like a comment",
		"data: looks like a field",
		"\nid: 99\nevent: error\n",
		"line\u2028separator\u2029paragraph",
		"日本語 ✓ 🎉",
		"\uFEFFbom inside",
		"nul\x00inside",
		strings.Repeat("long ", 20000),
	}
	var b bytes.Buffer
	for i, d := range payloads {
		require.NoError(t, WriteMessage(&b, Message{ID: string(rune('A' + i)), Event: "e", Data: d}))
	}
	p := NewParser(&b)
	for i, d := range payloads {
		m, err := p.Next()
		require.NoError(t, err, "payload %d", i)
		want := strings.ReplaceAll(strings.ReplaceAll(d, "\r\n", "\n"), "\r", "\n")
		assert.Equal(t, want, m.Data, "payload %d", i)
		assert.Equal(t, string(rune('A'+i)), m.ID)
		assert.Equal(t, "e", m.Event)
	}
	_, err := p.Next()
	require.ErrorIs(t, err, io.EOF)
}

func BenchmarkFormat(b *testing.B) {
	id := []byte("01J00000000000000000000000")
	data := []byte(`{"id":42,"title":"New comment","body":"Someone replied to your post","url":"/posts/42#c7"}`)
	m := Message{ID: string(id), Event: "notification", Data: string(data)}
	b.Run("WriteMessage", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		var w bytes.Buffer
		for b.Loop() {
			w.Reset()
			if err := WriteMessage(&w, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendEvent", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = AppendEvent(buf[:0], id, m.Event, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestClip: a string of exactly n bytes is echoed whole, with no mark.
func TestClip(t *testing.T) {
	assert.Equal(t, "abc", Clip("abc", 3))
	assert.Equal(t, "ab…", Clip("abc", 2))
	assert.Equal(t, "", Clip("", 0))
}
