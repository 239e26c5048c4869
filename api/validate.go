package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

// Limits on what a request may name or nest.
const (
	maxUserLen    = eventlog.MaxUserLen
	maxIdemKeyLen = 256
	// maxDepth bounds JSON nesting in a body (the publish envelope
	// included). Real payloads nest a handful of levels; a deep one only
	// costs every subscriber's parser stack.
	maxDepth = 64
	// maxBatchEvents bounds one batch, so one request cannot hold the
	// writer for long.
	maxBatchEvents = 1000
)

// reservedNames are the server's own event names: a publisher must not be
// able to spoof them, and "error" would reach a browser's onerror.
var reservedNames = []string{"connected", "gap", "error", "open"}

// checkUser accepts user ids matching [A-Za-z0-9._:@-]{1,128}, except the
// path segments "." and "..".
func checkUser(u string) error {
	if u == "" {
		return fmt.Errorf("%w: user id required", errBadRequest)
	}
	if len(u) > maxUserLen {
		return fmt.Errorf("%w: user id longer than %d bytes", errBadRequest, maxUserLen)
	}
	if u == "." || u == ".." {
		return fmt.Errorf("%w: user id %q is not allowed", errBadRequest, u)
	}
	for i := 0; i < len(u); i++ {
		if !isUserByte(u[i]) {
			return fmt.Errorf("%w: user id may hold only letters, digits and . _ : @ -", errBadRequest)
		}
	}
	return nil
}

// checkEventName accepts names matching [A-Za-z0-9_.:-]{1,128} that are
// not reserved. It returns the name to store: "" for "message", the name
// a browser dispatches to onmessage anyway.
func checkEventName(n string) (string, error) {
	if n == "" {
		return "", fmt.Errorf("%w: event name is empty", errBadRequest)
	}
	if len(n) > sse.MaxNameLen {
		return "", fmt.Errorf("%w: event name longer than %d bytes", errBadRequest, sse.MaxNameLen)
	}
	if !sse.ValidEventName(n) {
		return "", fmt.Errorf("%w: event name may hold only letters, digits and . _ : -", errBadRequest)
	}
	if slices.Contains(reservedNames, n) {
		return "", fmt.Errorf("%w: event name %q is reserved for the server", errBadRequest, n)
	}
	if n == "message" {
		return "", nil
	}
	return n, nil
}

func isUserByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '.' || c == ':' || c == '-' || c == '@'
}

// checkIdemKey accepts up to 256 bytes of visible ASCII.
func checkIdemKey(k string) error {
	if len(k) > maxIdemKeyLen {
		return fmt.Errorf("%w: Idempotency-Key longer than %d bytes", errBadRequest, maxIdemKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return fmt.Errorf("%w: Idempotency-Key may hold only visible ASCII", errBadRequest)
		}
	}
	return nil
}

// checkJSONText runs the checks that apply to a whole body before it is
// decoded: valid UTF-8 (encoding/json would silently replace bad bytes in
// the raw data we store), bounded nesting, no repeated keys and no number
// that overflows a float64 (scanJSON).
func checkJSONText(body []byte) error {
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: body is not valid UTF-8", errBadRequest)
	}
	return scanJSON(body, maxDepth)
}

// decodeOne decodes exactly one JSON value from b into v.
func decodeOne(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body is not valid JSON: %s", errBadRequest, jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: body holds more than one JSON value", errBadRequest)
	}
	return nil
}

// jsonProblem words a decoding error without echoing Go type names.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s at byte %d", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("expected %s, got JSON %s", expectedKind(typ), typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return "malformed"
}

func expectedKind(e *json.UnmarshalTypeError) string {
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

// eventFields turns one decoded event object into an eventlog.Input,
// checking that it names only allowed fields and holds data. user is
// "" unless userField is set and the object names one.
func eventFields(obj map[string]json.RawMessage, userField bool) (eventlog.Input, error) {
	var in eventlog.Input
	for k := range obj {
		if k != "event" && k != "data" && (!userField || k != "user") {
			return in, fmt.Errorf("%w: unknown field %q", errBadRequest, sse.Clip(k, 64))
		}
	}
	if raw, ok := obj["user"]; ok && userField {
		var err error
		if in.User, err = jsonString(raw); err != nil {
			return in, fmt.Errorf("%w: user must be a string", errBadRequest)
		}
		if err := checkUser(in.User); err != nil {
			return in, err
		}
	}
	if raw, ok := obj["event"]; ok {
		name, err := jsonString(raw)
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

// jsonString decodes a JSON string already validated by the decoder. A
// plain one (no escapes) is sliced out without a decoding pass; anything
// else goes through encoding/json.
func jsonString(raw json.RawMessage) (string, error) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && !bytes.ContainsAny(raw[1:n-1], "\\\"") {
		return string(raw[1 : n-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// decodePublish validates the body of a single publish,
// {"event":"name","data":<any JSON>}, and returns the event to store.
func decodePublish(body []byte) (eventlog.Input, error) {
	if err := checkJSONText(body); err != nil {
		return eventlog.Input{}, err
	}
	var obj map[string]json.RawMessage
	if err := decodeOne(body, &obj); err != nil {
		return eventlog.Input{}, err
	}
	if obj == nil {
		return eventlog.Input{}, fmt.Errorf("%w: body must be a JSON object", errBadRequest)
	}
	return eventFields(obj, false)
}

// decodeBatch validates the body of a batch publish, a JSON array of
// {"user","event","data"} objects (no user means broadcast). Each event's
// compacted data must fit maxData bytes.
func decodeBatch(body []byte, maxData int64) ([]eventlog.Input, error) {
	if err := checkJSONText(body); err != nil {
		return nil, err
	}
	// One decoding pass straight into the objects: this route's cost is
	// mostly JSON, so every pass counts.
	var items []map[string]json.RawMessage
	if err := decodeOne(body, &items); err != nil {
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
		in, err := eventFields(obj, true)
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
