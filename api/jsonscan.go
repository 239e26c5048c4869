package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// scanJSON makes one pass over a body before it is decoded and refuses
// what a decoder would accept but parsers disagree on: nesting deeper
// than maxDepth, a key repeated in one object (encoding/json and a
// browser's JSON.parse keep the last, others the first), and a number no
// float64 holds (1e999 is Infinity to a browser). It trusts the decoder
// to refuse malformed text and never panics on it.
func scanJSON(b []byte, maxDepth int) error {
	type frame struct {
		object    bool
		expectKey bool
		keys      [][]byte
	}
	var stack []frame
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			end := stringEnd(b, i)
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
				top := &stack[n-1]
				top.expectKey = false
				key := b[i+1 : max(end-1, i+1)]
				if bytes.IndexByte(key, '\\') >= 0 {
					var s string
					if json.Unmarshal(b[i:end], &s) != nil {
						return nil // malformed: the decoder says where
					}
					key = []byte(s)
				}
				for _, k := range top.keys {
					if bytes.Equal(k, key) {
						return fmt.Errorf("%w: key %q appears twice in one object", errBadRequest, clipKey(key))
					}
				}
				top.keys = append(top.keys, key)
			}
			i = end - 1
		case '{', '[':
			if len(stack) >= maxDepth {
				return fmt.Errorf("%w: JSON nested deeper than %d levels", errBadRequest, maxDepth)
			}
			stack = append(stack, frame{object: c == '{', expectKey: c == '{'})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].expectKey = true
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			j := i
			for j < len(b) && isNumberByte(b[j]) {
				j++
			}
			if err := checkNumber(b[i:j]); err != nil {
				return err
			}
			i = j - 1
		}
	}
	return nil
}

// stringEnd returns the index just past the string starting at b[i] ('"').
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// checkNumber refuses a number that overflows a float64. Short plain
// integers cannot, so only the rest are parsed.
func checkNumber(n []byte) error {
	if len(n) <= 15 && bytes.IndexAny(n, "eE") < 0 {
		return nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil && !math.IsInf(f, 0) {
		return nil // malformed: the decoder says where
	}
	if math.IsInf(f, 0) {
		return fmt.Errorf("%w: number %s does not fit a 64-bit float", errBadRequest, clipKey(n))
	}
	return nil
}

func clipKey(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
