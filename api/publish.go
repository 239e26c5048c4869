package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/oklog/ulid/v2"

	"github.com/sselog/sselog/eventlog"
)

// idBody answers a publish: the event's id and how many streams were open
// for its target (the user, or everyone for a broadcast) once it was
// committed. Live is a hint (GET /v1/users/:user/presence), not a delivery
// guarantee; the event is stored either way.
type idBody struct {
	ID   string `json:"id"`
	Live int    `json:"live"`
}

// idsBody answers a batch: ids and live counts in input order.
type idsBody struct {
	IDs  []string `json:"ids"`
	Live []int    `json:"live"`
}

// handlePublish stores one event for the user in the path:
// {"event":"name","data":<JSON>} → 201 {"id"} once durable.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	user := ps.ByName("user")
	if err := checkUser(user); err != nil {
		s.fail(w, r, err)
		return
	}
	s.publishOne(w, r, user, "user")
}

// handleBroadcast stores one event for every user.
func (s *Server) handleBroadcast(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.publishOne(w, r, "", "broadcast")
}

// publishRequest checks what every publish route checks — the publisher
// key, the Idempotency-Key header, the body size — and returns the key and
// body.
func (s *Server) publishRequest(w http.ResponseWriter, r *http.Request, limit int64) (key string, body []byte, err error) {
	if err := s.requirePublisher(r); err != nil {
		return "", nil, err
	}
	keys := r.Header.Values("Idempotency-Key")
	switch {
	case len(keys) > 1:
		return "", nil, fmt.Errorf("%w: Idempotency-Key sent %d times; send one", errBadRequest, len(keys))
	case len(keys) == 1 && keys[0] == "":
		// Sent, so idempotency was asked for: an empty key cannot give it.
		return "", nil, fmt.Errorf("%w: Idempotency-Key is empty", errBadRequest)
	case len(keys) == 1:
		key = keys[0]
	}
	if err := checkIdemKey(key); err != nil {
		return "", nil, err
	}
	body, err = readBody(w, r, limit)
	return key, body, err
}

func (s *Server) publishOne(w http.ResponseWriter, r *http.Request, user, route string) {
	key, body, err := s.publishRequest(w, r, s.cfg.MaxBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	in, err := decodePublish(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	in.User, in.IdempotencyKey = user, key
	start := time.Now()
	id, err := s.log.Append(r.Context(), in)
	if err != nil {
		s.fail(w, r, storeError(err))
		return
	}
	s.metrics.publishLatency(route).Observe(time.Since(start).Seconds())
	writeRawJSON(w, http.StatusCreated, appendIDBody(make([]byte, 0, 64), id, s.hub.Streams(user)))
}

// appendIDBody appends idBody as encoding/json writes it, and a newline,
// without its reflection: this answer is written once per event.
func appendIDBody(dst []byte, id eventlog.ID, live int) []byte {
	dst = append(dst, `{"id":"`...)
	var text [ulid.EncodedSize]byte
	_ = id.MarshalTextTo(text[:]) // cannot fail: the buffer fits
	dst = append(dst, text[:]...)
	dst = append(dst, `","live":`...)
	dst = strconv.AppendInt(dst, int64(live), 10)
	return append(dst, "}\n"...)
}

// handleBatch stores a JSON array of {"user","event","data"} in one
// transaction, all or nothing → 201 {"ids":[...]} in input order. An
// Idempotency-Key covers the batch as a whole, in a key space of its own:
// a retried batch returns the same ids and stores nothing new; the key
// with another batch is 422.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	key, body, err := s.publishRequest(w, r, s.cfg.MaxBatchBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	events, err := decodeBatch(body, s.cfg.MaxBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	start := time.Now()
	ids, err := s.log.AppendKeyedBatch(r.Context(), key, events)
	if err != nil {
		s.fail(w, r, storeError(err))
		return
	}
	s.metrics.publishLatency("batch").Observe(time.Since(start).Seconds())
	out := idsBody{IDs: make([]string, len(ids)), Live: make([]int, len(ids))}
	for i, id := range ids {
		out.IDs[i] = id.String()
		out.Live[i] = s.hub.Streams(events[i].User)
	}
	writeJSON(w, http.StatusCreated, out)
}

// readBody reads at most limit bytes; a larger body is a 413. The limit
// applies to what arrives, whatever Content-Length claims.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: body is %d bytes, the limit is %d", errTooLarge, r.ContentLength, limit)
	}
	// A body that trickles in is bounded by the request's read deadline
	// (Server.guard). A declared length is checked above and enforced by
	// net/http; only a chunked body needs the byte limit.
	body := r.Body
	if r.ContentLength < 0 {
		body = http.MaxBytesReader(w, r.Body, limit)
	}
	b, err := readSized(body, r.ContentLength)
	if err == nil {
		// Closed once read to its end, the body tells net/http there is
		// nothing left to discard before it answers: it skips a copy
		// through a LimitReader per request. A body that failed is left
		// to net/http: closing it would read on into what is left of it
		// before the refusal could be sent.
		_ = r.Body.Close()
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, fmt.Errorf("%w: the limit is %d bytes", errTooLarge, limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, fmt.Errorf("%w: body not received within the read timeout", errBadRequest)
	case err != nil:
		return nil, fmt.Errorf("%w: reading body: %v", errBadRequest, err)
	case len(b) == 0:
		return nil, fmt.Errorf("%w: body is empty; send {\"event\":...,\"data\":...}", errBadRequest)
	}
	return b, nil
}

// readSized is io.ReadAll into a buffer sized for the declared length, so
// a typical body is read in one allocation instead of a growing series.
func readSized(r io.Reader, declared int64) ([]byte, error) {
	if declared <= 0 || declared > 1<<20 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, declared+1) // +1: EOF needs room to be seen
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			rest, err := io.ReadAll(r)
			return append(b, rest...), err
		}
	}
}

// storeError classifies an append failure: an event the log refuses is
// the client's fault (400); anything else, closing or a full disk
// included, means the store cannot take writes now (503). A client that
// left is reported as such, so nothing is logged for it.
func storeError(err error) error {
	switch {
	case errors.Is(err, eventlog.ErrInvalidEvent), errors.Is(err, eventlog.ErrIdempotencyKeyReused):
		return err
	case errors.Is(err, context.Canceled):
		return err
	}
	return fmt.Errorf("%w: %w", errUnavailable, err)
}
