package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// jsonReader reads a publish body in one pass: it checks the grammar
// (RFC 8259, as strictly as encoding/json), and refuses what a decoder
// would accept but parsers disagree on — nesting deeper than maxDepth, a
// key repeated in one object (encoding/json and a browser's JSON.parse
// keep the last, others the first), a number no float64 holds (1e999 is
// Infinity to a browser) — while it hands the caller the spans of the
// envelope's members. The body was scanned six times before (UTF-8, this
// check, the decoder's validation and decoding, compaction, the store's
// validation); at one event per request that was a tenth of the
// server's CPU.
type jsonReader struct {
	b     []byte
	i     int
	depth int
	// ws counts whitespace skipped, so a caller knows whether a value's
	// span is already compact.
	ws int
	// keys holds the keys of every open object, innermost last, for the
	// duplicate check; seen takes over for an object with many keys.
	// keyBuf backs it for a typical envelope without an allocation.
	keys   [][]byte
	keyBuf [16][]byte
}

// manyKeys is where an object's duplicate check moves from comparing
// with each earlier key to a set, so a body of ten thousand keys costs
// no hundred million comparisons.
const manyKeys = 16

// newJSONReader refuses a body that is not valid UTF-8: encoding/json
// would replace bad bytes silently, in data we store as given.
func newJSONReader(r *jsonReader, b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: body is not valid UTF-8", errBadRequest)
	}
	*r = jsonReader{b: b}
	r.keys = r.keyBuf[:0]
	return nil
}

func (r *jsonReader) syntax(what string) error {
	if r.i >= len(r.b) {
		return fmt.Errorf("%w: body is not valid JSON: unexpected end of input", errBadRequest)
	}
	return fmt.Errorf("%w: body is not valid JSON: invalid character %s %s at byte %d", errBadRequest, quoteChar(r.b[r.i]), what, r.i+1)
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	return strconv.QuoteRune(rune(c))
}

func (r *jsonReader) skipSpace() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
			r.ws++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (r *jsonReader) peek() byte {
	r.skipSpace()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// end checks that nothing but whitespace follows the value read.
func (r *jsonReader) end() error {
	// Not peek: its 0 at the end of input is also a NUL byte in it.
	r.skipSpace()
	if r.i < len(r.b) {
		return fmt.Errorf("%w: body holds more than one JSON value", errBadRequest)
	}
	return nil
}

// value reads one value of any kind.
func (r *jsonReader) value() error {
	switch r.peek() {
	case '{':
		return r.object(func([]byte) error { return r.value() })
	case '[':
		return r.array(func(int) error { return r.value() })
	case '"':
		_, err := r.str()
		return err
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return r.number()
	}
	return r.syntax("looking for beginning of value")
}

// object reads an object, calling member with each key (unescaped) once
// the reader stands before its value; member must read the value.
func (r *jsonReader) object(member func(key []byte) error) error {
	if err := r.open(); err != nil {
		return err
	}
	r.i++ // '{'
	first := len(r.keys)
	var seen map[string]struct{}
	defer func() { r.keys = r.keys[:first]; r.depth-- }()
	if r.peek() == '}' {
		r.i++
		return nil
	}
	for {
		if r.peek() != '"' {
			return r.syntax("looking for beginning of object key string")
		}
		key, err := r.str()
		if err != nil {
			return err
		}
		if seen == nil && len(r.keys)-first == manyKeys {
			seen = make(map[string]struct{}, 2*manyKeys)
			for _, k := range r.keys[first:] {
				seen[string(k)] = struct{}{}
			}
		}
		if dup := r.seen(key, r.keys[first:], seen); dup {
			return fmt.Errorf("%w: key %q appears twice in one object", errBadRequest, clipKey(key))
		}
		if seen != nil {
			seen[string(key)] = struct{}{}
		} else {
			r.keys = append(r.keys, key)
		}
		if r.peek() != ':' {
			return r.syntax("after object key")
		}
		r.i++
		if err := member(key); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil
		default:
			return r.syntax("after object key:value pair")
		}
	}
}

func (r *jsonReader) seen(key []byte, keys [][]byte, set map[string]struct{}) bool {
	if set != nil {
		_, ok := set[string(key)]
		return ok
	}
	for _, k := range keys {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

// array reads an array, calling elem with each element's index once the
// reader stands before it; elem must read the element.
func (r *jsonReader) array(elem func(i int) error) error {
	if err := r.open(); err != nil {
		return err
	}
	r.i++ // '['
	defer func() { r.depth-- }()
	if r.peek() == ']' {
		r.i++
		return nil
	}
	for n := 0; ; n++ {
		if err := elem(n); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return nil
		default:
			return r.syntax("after array element")
		}
	}
}

func (r *jsonReader) open() error {
	if r.depth >= maxDepth {
		return fmt.Errorf("%w: JSON nested deeper than %d levels", errBadRequest, maxDepth)
	}
	r.depth++
	return nil
}

// str reads a string and returns its contents, unescaped (a copy only
// when it holds escapes).
func (r *jsonReader) str() ([]byte, error) {
	start := r.i
	r.i++ // '"'
	escaped := false
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			r.i++
			raw := r.b[start:r.i]
			if !escaped {
				return raw[1 : len(raw)-1], nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("%w: body is not valid JSON: bad string at byte %d", errBadRequest, start+1)
			}
			return []byte(s), nil
		case c == '\\':
			escaped = true
			if err := r.escape(); err != nil {
				return nil, err
			}
		case c < 0x20:
			return nil, r.syntax("in string literal")
		default:
			r.i++
		}
	}
	return nil, r.syntax("")
}

// escape reads one escape sequence, the reader standing on its '\'.
func (r *jsonReader) escape() error {
	r.i++
	if r.i >= len(r.b) {
		return r.syntax("")
	}
	switch r.b[r.i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		r.i++
		return nil
	case 'u':
		r.i++
		for range 4 {
			if r.i >= len(r.b) || !isHex(r.b[r.i]) {
				return r.syntax("in \\u hexadecimal character escape")
			}
			r.i++
		}
		return nil
	}
	return r.syntax("in string escape code")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (r *jsonReader) literal(word string) error {
	for j := 0; j < len(word); j++ {
		if r.i >= len(r.b) || r.b[r.i] != word[j] {
			return r.syntax("in literal " + word + " (expecting " + quoteChar(word[j]) + ")")
		}
		r.i++
	}
	return nil
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and refuses
// one that overflows a float64.
func (r *jsonReader) number() error {
	start := r.i
	if r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case r.i < len(r.b) && '1' <= r.b[r.i] && r.b[r.i] <= '9':
		r.digits()
	default:
		return r.syntax("in numeric literal")
	}
	plain := true
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if !r.digits() {
			return r.syntax("after decimal point in numeric literal")
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		plain = false
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if !r.digits() {
			return r.syntax("in exponent of numeric literal")
		}
	}
	n := r.b[start:r.i]
	if plain && len(n) <= 15 {
		return nil // cannot overflow
	}
	if f, _ := strconv.ParseFloat(string(n), 64); math.IsInf(f, 0) {
		return fmt.Errorf("%w: number %s does not fit a 64-bit float", errBadRequest, clipKey(n))
	}
	return nil
}

// digits reads [0-9]* and reports whether it read any.
func (r *jsonReader) digits() bool {
	start := r.i
	for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
		r.i++
	}
	return r.i > start
}

// compact appends span, a valid JSON value, without whitespace outside
// its strings.
func compact(dst, span []byte) []byte {
	for i := 0; i < len(span); i++ {
		switch c := span[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			end := i + 1
			for ; span[end] != '"'; end++ {
				if span[end] == '\\' {
					end++
				}
			}
			dst = append(dst, span[i:end+1]...)
			i = end
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func clipKey(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
