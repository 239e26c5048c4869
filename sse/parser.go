package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"
)

// ErrTooLarge is returned by Parser.Next when a line or an event's data
// exceeds MaxEventBytes.
var ErrTooLarge = errors.New("SSE event too large")

// MaxEventBytes bounds what a Parser buffers for one line or one event's
// data, so a hostile stream cannot make it grow without limit.
const MaxEventBytes = 16 << 20

// Parser reads an event stream the way a browser's EventSource does,
// following the WHATWG "server-sent events" interpretation rules: UTF-8
// decoding with U+FFFD for bad bytes, one BOM stripped at the very start,
// lines ended by CR, LF or CRLF, the field name up to the first colon and
// one leading space stripped from the value, retry: taken only when it is
// all ASCII digits, id: ignored when it holds NUL, the last event id kept
// across events, and an event dispatched only at a blank line and only
// when it has data. A partial event at the end of the stream is dropped.
type Parser struct {
	// OnComment, if set, receives each comment line's text without the
	// colon and without one leading space (": heartbeat" → "heartbeat").
	OnComment func(text string)

	r        io.Reader
	buf      []byte
	start    int
	end      int
	err      error  // sticky error from r, reported once buf is drained
	line     []byte // a line that spans reads
	skipLF   bool   // the last line ended in CR: an LF next is its tail
	started  bool   // the first line (the only one that may hold a BOM) is read
	idBuf    string // the last event id buffer, set by id:
	lastID   string // idBuf as of the last blank line: what a browser resends
	event    string
	data     []byte
	retry    time.Duration
	newRetry time.Duration // set by retry: since the last dispatch
}

// NewParser returns a parser reading r. It buffers r itself.
func NewParser(r io.Reader) *Parser {
	return &Parser{r: r, buf: make([]byte, 4096)}
}

// Next returns the next dispatched event. Message.ID is the last event id
// at dispatch (it persists across events without an id: line, as in a
// browser), Message.Event is "message" when no event: line was given, and
// Message.Retry is the reconnection time set by a retry: field read since
// the previous dispatched event (0 if none; Retry gives the current one).
// At the end of the stream Next returns io.EOF.
func (p *Parser) Next() (Message, error) {
	for {
		line, err := p.readLine()
		if err != nil {
			return Message{}, err
		}
		if !p.started {
			p.started = true
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if len(line) == 0 {
			// The browser takes the buffer as its last event id at every
			// blank line, data or none; an event cut off never gets there.
			p.lastID = p.idBuf
			if m, ok := p.dispatch(); ok {
				return m, nil
			}
			continue
		}
		if err := p.field(line); err != nil {
			return Message{}, err
		}
	}
}

// LastEventID is what a browser would send as Last-Event-ID if it
// reconnected now: the id buffer as of the last blank line, so an event
// cut off by the end of the stream does not move it.
func (p *Parser) LastEventID() string { return p.lastID }

// Retry is the reconnection time from the last valid retry: field, or 0.
func (p *Parser) Retry() time.Duration { return p.retry }

func (p *Parser) field(line []byte) error {
	if line[0] == ':' {
		if p.OnComment != nil {
			p.OnComment(decodeUTF8(trimSpace1(line[1:])))
		}
		return nil
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], trimSpace1(line[i+1:])
	}
	switch string(name) {
	case "event":
		p.event = decodeUTF8(value)
	case "data":
		if len(p.data)+len(value) >= MaxEventBytes {
			return fmt.Errorf("parse SSE data: %w", ErrTooLarge)
		}
		p.data = appendUTF8(p.data, value)
		p.data = append(p.data, '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != p.idBuf {
			p.idBuf = decodeUTF8(value)
		}
	case "retry":
		if d, ok := parseRetry(value); ok {
			p.retry, p.newRetry = d, d
		}
	}
	return nil
}

func (p *Parser) dispatch() (Message, bool) {
	if len(p.data) == 0 {
		p.event = ""
		return Message{}, false
	}
	m := Message{ID: p.idBuf, Event: p.event, Data: string(p.data[:len(p.data)-1]), Retry: p.newRetry}
	if m.Event == "" {
		m.Event = "message"
	}
	p.event, p.data, p.newRetry = "", p.data[:0], 0
	if cap(p.data) > 64<<10 {
		p.data = nil // do not pin one huge event's buffer
	}
	return m, true
}

// readLine returns the next line without its terminator. The slice is
// valid until the next call. A line cut off by the end of input is
// discarded, as the spec says.
func (p *Parser) readLine() ([]byte, error) {
	p.line = p.line[:0]
	for {
		if p.start == p.end {
			if err := p.fill(); err != nil {
				return nil, err
			}
			continue
		}
		chunk := p.buf[p.start:p.end]
		if p.skipLF {
			p.skipLF = false
			if chunk[0] == '\n' {
				p.start++
				continue
			}
		}
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			i = len(chunk)
		}
		if j := bytes.IndexByte(chunk[:i], '\r'); j >= 0 {
			i = j
			p.skipLF = true
		}
		if i == len(chunk) {
			if len(p.line)+len(chunk) > MaxEventBytes {
				return nil, fmt.Errorf("parse SSE line: %w", ErrTooLarge)
			}
			p.line = append(p.line, chunk...)
			p.start = p.end
			continue
		}
		p.start += i + 1
		if len(p.line) == 0 {
			return chunk[:i], nil
		}
		p.line = append(p.line, chunk[:i]...)
		return p.line, nil
	}
}

func (p *Parser) fill() error {
	if p.err != nil {
		return p.err
	}
	p.start, p.end = 0, 0
	for range 100 {
		n, err := p.r.Read(p.buf)
		p.end = n
		if err != nil {
			p.err = err
		}
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	p.err = io.ErrNoProgress
	return p.err
}

func trimSpace1(b []byte) []byte {
	if len(b) > 0 && b[0] == ' ' {
		return b[1:]
	}
	return b
}

// parseRetry accepts ASCII digits only; an overlong value saturates.
func parseRetry(b []byte) (time.Duration, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var ms uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms <= math.MaxInt64/uint64(time.Millisecond) {
			ms = ms*10 + uint64(c-'0')
		}
	}
	if ms > math.MaxInt64/uint64(time.Millisecond) {
		return time.Duration(math.MaxInt64), true
	}
	return time.Duration(ms) * time.Millisecond, true
}

func decodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string(appendUTF8(nil, b))
}

// appendUTF8 appends b decoded as the WHATWG UTF-8 decoder does: each
// maximal invalid subsequence becomes one U+FFFD. (Go's own replacement
// differs: it replaces every byte of a truncated sequence.)
func appendUTF8(dst, b []byte) []byte {
	if utf8.Valid(b) {
		return append(dst, b...)
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case 0xC2 <= c && c <= 0xDF:
			need = 1
		case 0xE0 <= c && c <= 0xEF:
			need = 2
			if c == 0xE0 {
				lo = 0xA0
			} else if c == 0xED {
				hi = 0x9F
			}
		case 0xF0 <= c && c <= 0xF4:
			need = 3
			if c == 0xF0 {
				lo = 0x90
			} else if c == 0xF4 {
				hi = 0x8F
			}
		}
		j := i + 1
		for seen := 0; seen < need && j < len(b) && lo <= b[j] && b[j] <= hi; seen++ {
			j++
			lo, hi = 0x80, 0xBF
		}
		if need > 0 && j-i == need+1 {
			dst = append(dst, b[i:j]...)
		} else {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		}
		i = j
	}
	return dst
}
