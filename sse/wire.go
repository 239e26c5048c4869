package sse

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// ErrInvalidField means a message field would break or inject into the
// SSE framing: an id or event name holding CR, LF or NUL, an event name
// outside [A-Za-z0-9_.:-]{1,128}, an id that is not valid UTF-8, or a
// negative retry.
var ErrInvalidField = errors.New("invalid SSE field")

// Message is one server-sent event as it travels on the wire.
type Message struct {
	// ID is the event id; "" writes no id: line (an empty id: line would
	// reset the browser's resume point, so it is never written).
	ID string
	// Event is the event name; "" writes no event: line, which a browser
	// dispatches as "message". The Parser returns "message" for it.
	Event string
	// Data is the payload. Its lines may end in CR, LF or CRLF; the
	// receiver sees them joined by LF. Bytes that are not UTF-8 reach a
	// browser as U+FFFD.
	Data string
	// Retry, when positive, is sent as retry: in whole milliseconds, the
	// browser's reconnection delay.
	Retry time.Duration
}

// WriteMessage writes m as one SSE frame with a single Write. It returns
// an error wrapping ErrInvalidField, having written nothing, when a field
// would not survive the framing.
func WriteMessage(w io.Writer, m Message) error {
	bp := getBuf()
	defer putBuf(bp)
	b, err := AppendMessage((*bp)[:0], m)
	*bp = b[:0]
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

// WriteComment writes text as comment lines (": text"), one per line of
// text. Browsers ignore comments; they keep idle connections alive.
func WriteComment(w io.Writer, text string) error {
	bp := getBuf()
	defer putBuf(bp)
	b := appendLines((*bp)[:0], ": ", text)
	*bp = b[:0]
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write comment: %w", err)
	}
	return nil
}

// bufPool holds scratch buffers for WriteMessage and WriteComment. Buffers
// that grew past 64 KiB are dropped rather than pinned.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		bufPool.Put(b)
	}
}

// AppendMessage appends m's frame to dst, as WriteMessage writes it.
func AppendMessage(dst []byte, m Message) ([]byte, error) {
	if err := checkID(m.ID); err != nil {
		return dst, err
	}
	if m.Event != "" && !ValidEventName(m.Event) {
		return dst, fmt.Errorf("%w: event name %q", ErrInvalidField, Clip(m.Event, 40))
	}
	if m.Retry < 0 {
		return dst, fmt.Errorf("%w: negative retry %v", ErrInvalidField, m.Retry)
	}
	if m.Retry > 0 {
		dst = append(dst, "retry: "...)
		dst = strconv.AppendInt(dst, m.Retry.Milliseconds(), 10)
		dst = append(dst, '\n')
	}
	if m.ID != "" {
		dst = append(append(append(dst, "id: "...), m.ID...), '\n')
	}
	if m.Event != "" {
		dst = append(append(append(dst, "event: "...), m.Event...), '\n')
	}
	dst = appendLines(dst, "data: ", m.Data)
	return append(dst, '\n'), nil
}

// AppendEvent appends the frame of a logged event: id, event name ("" for
// the default message) and data. It avoids the string copies of
// AppendMessage: this is the per-event path.
func AppendEvent(dst, id []byte, name string, data []byte) ([]byte, error) {
	if err := checkID(id); err != nil {
		return dst, err
	}
	if name != "" && !ValidEventName(name) {
		return dst, fmt.Errorf("%w: event %s has name %q", ErrInvalidField, id, Clip(name, 40))
	}
	dst = append(append(append(dst, "id: "...), id...), '\n')
	if name != "" {
		dst = append(append(append(dst, "event: "...), name...), '\n')
	}
	dst = appendLines(dst, "data: ", data)
	return append(dst, '\n'), nil
}

// appendLines writes text as prefix-led lines, splitting it on CR, LF and
// CRLF: the three line ends an SSE parser knows. Splitting on anything
// else (U+2028, VT, FF) would change the payload.
func appendLines[T string | []byte](dst []byte, prefix string, text T) []byte {
	start := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c != '\r' && c != '\n' {
			continue
		}
		dst = append(append(append(dst, prefix...), text[start:i]...), '\n')
		if c == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		start = i + 1
	}
	return append(append(append(dst, prefix...), text[start:]...), '\n')
}

func checkID[T string | []byte](id T) error {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '\r' || c == '\n' || c == 0 {
			return fmt.Errorf("%w: id %q holds CR, LF or NUL", ErrInvalidField, Clip(string(id), 40))
		}
	}
	if !utf8.ValidString(string(id)) {
		// A browser would decode it to something else and send that
		// back as Last-Event-ID.
		return fmt.Errorf("%w: id %q is not UTF-8", ErrInvalidField, Clip(string(id), 40))
	}
	return nil
}

// MaxNameLen bounds an event name.
const MaxNameLen = 128

// ValidEventName reports whether name matches [A-Za-z0-9_.:-]{1,128}: the
// event-name rule publishers and the formatter share. Such a name cannot
// inject SSE fields.
func ValidEventName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// Clip shortens s to n bytes and marks the cut, for echoing untrusted
// input in an error or a gap event without echoing all of it.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
