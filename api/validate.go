package api

import (
	"fmt"
	"slices"

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

// envelope is one event object as read: its members' spans in the body.
type envelope struct {
	object        bool // false: some other JSON value stood here
	user, name    []byte
	data          []byte // the raw value
	hasUser       bool
	hasName       bool
	hasData       bool
	userNotString bool
	nameNotString bool
	dataHasSpace  bool   // data must be compacted
	unknown       []byte // the first key that is no field
}

// envelope reads one value where an event object belongs. Only what
// makes the body unreadable is an error here; what the fields say is
// judged by input, once the whole body has been read.
func (r *jsonReader) envelope() (envelope, error) {
	var e envelope
	if r.peek() != '{' {
		return e, r.value()
	}
	e.object = true
	err := r.object(func(key []byte) error {
		switch string(key) {
		case "data":
			r.skipSpace()
			start, ws := r.i, r.ws
			err := r.value()
			e.data, e.hasData, e.dataHasSpace = r.b[start:r.i], true, r.ws != ws
			return err
		case "event":
			e.hasName = true
			return r.stringField(&e.name, &e.nameNotString)
		case "user":
			e.hasUser = true
			return r.stringField(&e.user, &e.userNotString)
		}
		if e.unknown == nil {
			e.unknown = key
		}
		return r.value()
	})
	return e, err
}

func (r *jsonReader) stringField(s *[]byte, notString *bool) error {
	if r.peek() != '"' {
		*notString = true
		return r.value()
	}
	var err error
	*s, err = r.str()
	return err
}

// input checks an event object's fields and returns the event to store.
// user is read only with userField (the batch route); elsewhere it is an
// unknown field like any other.
func (e envelope) input(userField bool) (eventlog.Input, error) {
	var in eventlog.Input
	switch {
	case e.unknown != nil:
		return in, fmt.Errorf("%w: unknown field %q", errBadRequest, sse.Clip(string(e.unknown), 64))
	case e.hasUser && !userField:
		return in, fmt.Errorf("%w: unknown field %q", errBadRequest, "user")
	case e.userNotString:
		return in, fmt.Errorf("%w: user must be a string", errBadRequest)
	case e.nameNotString:
		return in, fmt.Errorf("%w: event must be a string", errBadRequest)
	}
	if e.hasUser {
		in.User = string(e.user)
		if err := checkUser(in.User); err != nil {
			return in, err
		}
	}
	if e.hasName {
		var err error
		if in.Name, err = checkEventName(string(e.name)); err != nil {
			return in, err
		}
	}
	if !e.hasData {
		return in, fmt.Errorf("%w: data is required (any JSON value)", errBadRequest)
	}
	in.Data = e.data
	if e.dataHasSpace {
		in.Data = compact(make([]byte, 0, len(e.data)), e.data)
	}
	return in, nil
}

// decodePublish validates the body of a single publish,
// {"event":"name","data":<any JSON>}, and returns the event to store. Its
// data may share the body's memory.
func decodePublish(body []byte) (eventlog.Input, error) {
	var r jsonReader
	if err := newJSONReader(&r, body); err != nil {
		return eventlog.Input{}, err
	}
	e, err := r.envelope()
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return eventlog.Input{}, err
	}
	if !e.object {
		return eventlog.Input{}, fmt.Errorf("%w: body must be a JSON object", errBadRequest)
	}
	return e.input(false)
}

// decodeBatch validates the body of a batch publish, a JSON array of
// {"user","event","data"} objects (no user means broadcast). Each event's
// compacted data must fit maxData bytes.
func decodeBatch(body []byte, maxData int64) ([]eventlog.Input, error) {
	var r jsonReader
	if err := newJSONReader(&r, body); err != nil {
		return nil, err
	}
	var items []envelope
	var err error
	if r.peek() == '[' {
		err = r.array(func(int) error {
			e, err := r.envelope()
			items = append(items, e)
			return err
		})
	} else {
		err = r.value()
	}
	if err == nil {
		err = r.end()
	}
	switch {
	case err != nil:
		return nil, err
	case len(items) == 0:
		return nil, fmt.Errorf("%w: batch must be a non-empty JSON array", errBadRequest)
	case len(items) > maxBatchEvents:
		return nil, fmt.Errorf("%w: batch holds more than %d events", errTooLarge, maxBatchEvents)
	}
	out := make([]eventlog.Input, len(items))
	for i, e := range items {
		if !e.object {
			return nil, fmt.Errorf("%w: event %d must be a JSON object", errBadRequest, i)
		}
		in, err := e.input(true)
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
