package api

// The encoding/json-based decoder the one-pass jsonReader replaced, kept
// as the reference FuzzDecodeAgainstReference holds the new one to: both
// must accept the same bodies, store the same events and refuse with the
// same status.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

// refCheckJSONText runs the checks that apply to a whole body before it is
// decoded: valid UTF-8 (encoding/json would silently replace bad bytes in
// the raw data we store), bounded nesting, no repeated keys and no number
// that overflows a float64 (refScanJSON).
func refCheckJSONText(body []byte) error {
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: body is not valid UTF-8", errBadRequest)
	}
	return refScanJSON(body, maxDepth)
}

// refDecodeOne decodes exactly one JSON value from b into v.
func refDecodeOne(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body is not valid JSON: %s", errBadRequest, refJsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: body holds more than one JSON value", errBadRequest)
	}
	return nil
}

// refJsonProblem words a decoding error without echoing Go type names.
func refJsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s at byte %d", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("expected %s, got JSON %s", refExpectedKind(typ), typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return "malformed"
}

func refExpectedKind(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "a value"
	}
	switch e.Type.Kind().String() {
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	}
	return "a value"
}

// refEventFields turns one decoded event object into an eventlog.Input,
// checking that it names only allowed fields and holds data. user is
// "" unless userField is set and the object names one.
func refEventFields(obj map[string]json.RawMessage, userField bool) (eventlog.Input, error) {
	var in eventlog.Input
	for k := range obj {
		if k != "event" && k != "data" && (!userField || k != "user") {
			return in, fmt.Errorf("%w: unknown field %q", errBadRequest, sse.Clip(k, 64))
		}
	}
	if raw, ok := obj["user"]; ok && userField {
		var err error
		if in.User, err = refJsonString(raw); err != nil {
			return in, fmt.Errorf("%w: user must be a string", errBadRequest)
		}
		if err := checkUser(in.User); err != nil {
			return in, err
		}
	}
	if raw, ok := obj["event"]; ok {
		name, err := refJsonString(raw)
		if err != nil {
			return in, fmt.Errorf("%w: event must be a string", errBadRequest)
		}
		if in.Name, err = checkEventName(name); err != nil {
			return in, err
		}
	}
	raw, ok := obj["data"]
	if !ok {
		return in, fmt.Errorf("%w: data is required (any JSON value)", errBadRequest)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return in, fmt.Errorf("%w: data is not valid JSON", errBadRequest)
	}
	in.Data = buf.Bytes()
	return in, nil
}

// refJsonString decodes a JSON string already validated by the decoder. A
// plain one (no escapes) is sliced out without a decoding pass; anything
// else goes through encoding/json.
func refJsonString(raw json.RawMessage) (string, error) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && !bytes.ContainsAny(raw[1:n-1], "\\\"") {
		return string(raw[1 : n-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// refDecodePublish validates the body of a single publish,
// {"event":"name","data":<any JSON>}, and returns the event to store.
func refDecodePublish(body []byte) (eventlog.Input, error) {
	if err := refCheckJSONText(body); err != nil {
		return eventlog.Input{}, err
	}
	var obj map[string]json.RawMessage
	if err := refDecodeOne(body, &obj); err != nil {
		return eventlog.Input{}, err
	}
	if obj == nil {
		return eventlog.Input{}, fmt.Errorf("%w: body must be a JSON object", errBadRequest)
	}
	return refEventFields(obj, false)
}

// refDecodeBatch validates the body of a batch publish, a JSON array of
// {"user","event","data"} objects (no user means broadcast). Each event's
// compacted data must fit maxData bytes.
func refDecodeBatch(body []byte, maxData int64) ([]eventlog.Input, error) {
	if err := refCheckJSONText(body); err != nil {
		return nil, err
	}
	// One decoding pass straight into the objects: this route's cost is
	// mostly JSON, so every pass counts.
	var items []map[string]json.RawMessage
	if err := refDecodeOne(body, &items); err != nil {
		return nil, err
	}
	switch {
	case len(items) == 0:
		return nil, fmt.Errorf("%w: batch must be a non-empty JSON array", errBadRequest)
	case len(items) > maxBatchEvents:
		return nil, fmt.Errorf("%w: batch holds more than %d events", errTooLarge, maxBatchEvents)
	}
	out := make([]eventlog.Input, len(items))
	for i, obj := range items {
		if obj == nil {
			return nil, fmt.Errorf("%w: event %d must be a JSON object", errBadRequest, i)
		}
		in, err := refEventFields(obj, true)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		if int64(len(in.Data)) > maxData {
			return nil, fmt.Errorf("%w: event %d data exceeds %d bytes", errTooLarge, i, maxData)
		}
		out[i] = in
	}
	return out, nil
}

// refScanJSON makes one pass over a body before it is decoded and refuses
// what a decoder would accept but parsers disagree on: nesting deeper
// than maxDepth, a key repeated in one object (encoding/json and a
// browser's JSON.parse keep the last, others the first), and a number no
// float64 holds (1e999 is Infinity to a browser). It trusts the decoder
// to refuse malformed text and never panics on it.
func refScanJSON(b []byte, maxDepth int) error {
	type frame struct {
		object    bool
		expectKey bool
		keys      [][]byte
	}
	var stack []frame
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			end := refStringEnd(b, i)
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
			for j < len(b) && refIsNumberByte(b[j]) {
				j++
			}
			if err := refCheckNumber(b[i:j]); err != nil {
				return err
			}
			i = j - 1
		}
	}
	return nil
}

// refStringEnd returns the index just past the string starting at b[i] ('"').
func refStringEnd(b []byte, i int) int {
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

func refIsNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// refCheckNumber refuses a number that overflows a float64. Short plain
// integers cannot, so only the rest are parsed.
func refCheckNumber(n []byte) error {
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
