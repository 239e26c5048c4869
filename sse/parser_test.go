package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseAll reads every event from r.
func parseAll(r io.Reader) ([]Message, []string, error) {
	var comments []string
	p := NewParser(r)
	p.OnComment = func(s string) { comments = append(comments, s) }
	var out []Message
	for {
		m, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out, comments, nil
		}
		if err != nil {
			return out, comments, err
		}
		out = append(out, m)
	}
}

func msg(id, event, data string) Message { return Message{ID: id, Event: event, Data: data} }

func TestParserFollowsSpec(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		want     []Message
		comments []string
	}{
		// The examples of the WHATWG "server-sent events" section.
		{"stock ticker", "data: YHOO\ndata: +2\ndata: 10\n\n", []Message{msg("", "message", "YHOO\n+2\n10")}, nil},
		{"ids persist and reset", ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
			[]Message{msg("1", "message", "first event"), msg("", "message", "second event"), msg("", "message", " third event")}, []string{"test stream"}},
		{"empty data and incomplete tail", "data\n\ndata\ndata\n\ndata:", []Message{msg("", "message", ""), msg("", "message", "\n")}, nil},
		{"one space stripped", "data:test\n\ndata: test\n\n", []Message{msg("", "message", "test"), msg("", "message", "test")}, nil},

		{"CR line ends", "event: e\rdata: a\rdata: b\r\r", []Message{msg("", "e", "a\nb")}, nil},
		{"CRLF line ends", "id: 7\r\ndata: a\r\n\r\n", []Message{msg("7", "message", "a")}, nil},
		{"mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", []Message{msg("", "message", "a\nb\nc")}, nil},
		{"BOM stripped once", "\uFEFFdata: a\n\n\uFEFFdata: b\n\ndata: c\n\n", []Message{msg("", "message", "a"), msg("", "message", "c")}, nil},
		{"BOM only at start of stream", "data: a\n\n\uFEFFdata: b\n\n", []Message{msg("", "message", "a")}, nil},
		{"no event without data", "event: e\nid: 1\n\ndata: x\n\n", []Message{msg("1", "message", "x")}, nil},
		{"event type resets after dispatch", "event: e\ndata: 1\n\ndata: 2\n\n", []Message{msg("", "e", "1"), msg("", "message", "2")}, nil},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", []Message{msg("1", "message", "a"), msg("1", "message", "b")}, nil},
		{"id applies to its own event", "data: a\nid: 5\n\n", []Message{msg("5", "message", "a")}, nil},
		{"empty id resets", "id: 1\ndata: a\n\nid:\ndata: b\n\n", []Message{msg("1", "message", "a"), msg("", "message", "b")}, nil},
		{"colon in value", "data: a:b: c\n\n", []Message{msg("", "message", "a:b: c")}, nil},
		{"field without colon", "data\n\n", []Message{msg("", "message", "")}, nil},
		{"unknown field ignored", "foo: bar\ndata: x\n\n", []Message{msg("", "message", "x")}, nil},
		{"field names are case sensitive", "Data: x\nDATA: y\ndata: z\n\n", []Message{msg("", "message", "z")}, nil},
		{"space before colon is part of the name", "data : x\ndata: y\n\n", []Message{msg("", "message", "y")}, nil},
		{"only one space stripped", "event:  e\ndata:\tx\n\n", []Message{msg("", " e", "\tx")}, nil},
		{"no trailing blank line", "data: x\n", nil, nil},
		{"no final newline", "data: x\n\ndata: y", []Message{msg("", "message", "x")}, nil},
		{"comment text", ":no space\n:  two spaces\n:\n", nil, []string{"no space", " two spaces", ""}},
		{"U+2028 not a line end", "data: a\u2028b\n\n", []Message{msg("", "message", "a\u2028b")}, nil},
		{"bad UTF-8 truncated sequence", "data: \xE2\x82A\n\n", []Message{msg("", "message", "\uFFFDA")}, nil},
		{"bad UTF-8 truncated 4-byte", "data: \xF0\x9F\x98x\n\n", []Message{msg("", "message", "\uFFFDx")}, nil},
		{"bad UTF-8 lone continuations", "data: \x80\x80\n\n", []Message{msg("", "message", "\uFFFD\uFFFD")}, nil},
		{"bad UTF-8 surrogate", "data: \xED\xA0\x80\n\n", []Message{msg("", "message", "\uFFFD\uFFFD\uFFFD")}, nil},
		{"bad UTF-8 overlong", "data: \xC0\xAF\n\n", []Message{msg("", "message", "\uFFFD\uFFFD")}, nil},
		{"bad UTF-8 at line end", "data: a\xE2\n\n", []Message{msg("", "message", "a\uFFFD")}, nil},
	} {
		for _, rd := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"bytewise", iotest.OneByteReader},
			{"halves", iotest.HalfReader},
			{"data+EOF", iotest.DataErrReader},
		} {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				got, comments, err := parseAll(rd.wrap(strings.NewReader(tc.in)))
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				assert.Equal(t, tc.comments, comments)
			})
		}
	}
}

func TestParserRetry(t *testing.T) {
	in := "retry: 3000\ndata: a\n\ndata: b\n\nretry: 1.5\nretry: 3000ms\nretry: \nretry:-1\ndata: c\n\nretry: 99999999999999999999999\ndata: d\n\n"
	p := NewParser(strings.NewReader(in))
	var got []time.Duration
	for {
		m, err := p.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, m.Retry)
	}
	// Retry is set only on the event after a valid retry: field.
	assert.Equal(t, []time.Duration{3 * time.Second, 0, 0, time.Duration(1<<63 - 1)}, got)
	assert.Equal(t, time.Duration(1<<63-1), p.Retry())

	// A retry: block without data dispatches nothing but still counts,
	// as the closed-hub answer relies on.
	p = NewParser(strings.NewReader("retry: 2000\n\n"))
	_, err := p.Next()
	require.ErrorIs(t, err, io.EOF)
	assert.Equal(t, 2*time.Second, p.Retry())
}

func TestParserLastEventIDPersists(t *testing.T) {
	p := NewParser(strings.NewReader("id: 1\ndata: a\n\nevent: connected\ndata: {}\n\n"))
	m, err := p.Next()
	require.NoError(t, err)
	assert.Equal(t, "1", m.ID)
	m, err = p.Next()
	require.NoError(t, err)
	assert.Equal(t, "1", m.ID, "an event without id: keeps the last id")
	assert.Equal(t, "1", p.LastEventID())
}

// TestParserLastEventIDMovesAtBlankLines: a browser takes the id buffer
// as its last event id at a blank line, with data or without; an event
// the stream cut off never got there, and a resume must not skip it.
func TestParserLastEventIDMovesAtBlankLines(t *testing.T) {
	for _, tc := range []struct{ name, stream, want string }{
		{"cut off after its id", "id: 1\ndata: a\n\nid: 2\ndata: b\n", "1"},
		{"cut off before its data", "id: 1\ndata: a\n\nid: 2\n", "1"},
		{"an id alone, ended", "id: 1\ndata: a\n\nid: 2\n\n", "2"},
		{"dispatched", "id: 1\ndata: a\n\nid: 2\ndata: b\n\n", "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewParser(strings.NewReader(tc.stream))
			for {
				if _, err := p.Next(); err != nil {
					require.ErrorIs(t, err, io.EOF)
					break
				}
			}
			assert.Equal(t, tc.want, p.LastEventID())
		})
	}
}

func TestParserBounded(t *testing.T) {
	big := strings.Repeat("x", MaxEventBytes+1)
	_, _, err := parseAll(strings.NewReader("data: " + big + "\n\n"))
	require.ErrorIs(t, err, ErrTooLarge)
	half := strings.Repeat("x", MaxEventBytes/2)
	_, _, err = parseAll(strings.NewReader("data: " + half + "\ndata: " + half + "\n\n"))
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestParserReadError(t *testing.T) {
	boom := errors.New("boom")
	p := NewParser(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)))
	m, err := p.Next()
	require.NoError(t, err)
	assert.Equal(t, "a", m.Data)
	_, err = p.Next()
	require.ErrorIs(t, err, boom)
}

// A reader that keeps returning nothing, and no error, is a fault of the
// reader (io.ErrNoProgress), not the end of the stream: a client must
// not take it for a clean end.
func TestParserReaderWithoutProgress(t *testing.T) {
	p := NewParser(io.MultiReader(strings.NewReader("data: a\n\n"), emptyReader{}))
	m, err := p.Next()
	require.NoError(t, err)
	assert.Equal(t, "a", m.Data)
	_, err = p.Next()
	require.ErrorIs(t, err, io.ErrNoProgress)
	require.NotErrorIs(t, err, io.EOF)
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

// FuzzFormatParse checks that any message the formatter accepts comes back
// from the parser unchanged, line ends in data normalised to LF.
func FuzzFormatParse(f *testing.F) {
	f.Add("01J0000000000000000000000", "notification", `{"a":1}`, int64(2000))
	f.Add("", "", "", int64(0))
	f.Add(" leading", "e", "a\r\nb\rc\nd", int64(1))
	f.Add("x", "gap", "\n\n\r\r", int64(0))
	f.Add("é", "a.b:c-d_e", "  spaces\u2028\u2029", int64(3))
	f.Add("1", "e", "\uFEFF\x00bad\xff\xe2\x82", int64(0))
	f.Fuzz(func(t *testing.T, id, event, data string, retryMS int64) {
		m := Message{ID: id, Event: event, Data: data, Retry: time.Duration(retryMS) * time.Millisecond}
		var b bytes.Buffer
		if err := WriteMessage(&b, m); err != nil {
			if !errors.Is(err, ErrInvalidField) {
				t.Fatalf("unexpected error %v", err)
			}
			if b.Len() != 0 {
				t.Fatalf("wrote %q for a refused message", b.String())
			}
			return
		}
		// Framing: every written line is a known field.
		for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n\n"), "\n") {
			if !strings.HasPrefix(line, "data: ") && !strings.HasPrefix(line, "id: ") &&
				!strings.HasPrefix(line, "event: ") && !strings.HasPrefix(line, "retry: ") {
				t.Fatalf("stray line %q in %q", line, b.String())
			}
		}
		got, _, err := parseAll(&b)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("parsed %d events from one message", len(got))
		}
		want := m
		want.Data = strings.ReplaceAll(strings.ReplaceAll(m.Data, "\r\n", "\n"), "\r", "\n")
		if want.Event == "" {
			want.Event = "message"
		}
		want.Retry = m.Retry.Truncate(time.Millisecond)
		if !utf8.ValidString(want.Data) {
			// A browser decodes bad bytes to U+FFFD: only the framing
			// must survive.
			if !utf8.ValidString(got[0].Data) || got[0].ID != want.ID || got[0].Event != want.Event {
				t.Fatalf("got %+v for %+v", got[0], m)
			}
			return
		}
		if got[0] != want {
			t.Fatalf("parse(format(%+v)) = %+v", m, got[0])
		}
	})
}

// FuzzParser checks that no input makes the parser panic or return
// non-UTF-8 text, read whole or byte by byte alike.
func FuzzParser(f *testing.F) {
	f.Add([]byte("data: a\n\n"))
	f.Add([]byte("\uFEFFid: 1\r\nevent: e\rretry: 10\ndata\n:c\n\n"))
	f.Add([]byte("data: \xF0\x9F\x98x\r"))
	f.Add([]byte("id: \x00\ndata:\n\n\n\r\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		whole, wc, err1 := parseAll(bytes.NewReader(in))
		bytewise, bc, err2 := parseAll(iotest.OneByteReader(bytes.NewReader(in)))
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("errors differ: %v vs %v", err1, err2)
		}
		if len(whole) != len(bytewise) || len(wc) != len(bc) {
			t.Fatalf("chunking changed the result: %d/%d events, %d/%d comments", len(whole), len(bytewise), len(wc), len(bc))
		}
		for i, m := range whole {
			if m != bytewise[i] {
				t.Fatalf("event %d differs: %+v vs %+v", i, m, bytewise[i])
			}
			if !utf8.ValidString(m.Data) || !utf8.ValidString(m.ID) || !utf8.ValidString(m.Event) || m.Event == "" {
				t.Fatalf("bad event %+v", m)
			}
			if strings.ContainsRune(m.ID, 0) {
				t.Fatalf("id with NUL accepted: %q", m.ID)
			}
		}
	})
}
