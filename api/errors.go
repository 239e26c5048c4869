package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sselog/sselog/eventlog"
)

// Sentinels the handlers wrap their failures in. statusOf is the one place
// that turns them into HTTP statuses.
var (
	errBadRequest       = errors.New("bad request")
	errUnauthenticated  = errors.New("missing credentials")
	errInvalidToken     = errors.New("invalid credentials")
	errForbidden        = errors.New("forbidden")
	errNotFound         = errors.New("not found")
	errMethodNotAllowed = errors.New("method not allowed")
	errTooLarge         = errors.New("request body too large")
	errTooMany          = errors.New("too many streams")
	errUnavailable      = errors.New("store unavailable")
	errShuttingDown     = errors.New("shutting down")
	errNotImplemented   = errors.New("not implemented by this store")
)

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, eventlog.ErrInvalidEvent), errors.Is(err, eventlog.ErrInvalidID):
		return http.StatusBadRequest
	case errors.Is(err, eventlog.ErrIdempotencyKeyReused):
		return http.StatusUnprocessableEntity
	case errors.Is(err, eventlog.ErrKeyedEventGone):
		return http.StatusConflict
	case errors.Is(err, errUnauthenticated), errors.Is(err, errInvalidToken):
		return http.StatusUnauthorized
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errTooLarge), errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errTooMany):
		return http.StatusTooManyRequests
	case errors.Is(err, errUnavailable), errors.Is(err, eventlog.ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, errNotImplemented):
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// fail answers a request with err as a JSON error. Client errors carry
// their message; server errors say little and are logged here, once.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		if !errors.Is(context.Cause(r.Context()), errShuttingDown) {
			return // the client left; nobody reads an answer
		}
		err = fmt.Errorf("%w: %w", errUnavailable, errShuttingDown) // Abandon: answer, to be retried
	}
	status := statusOf(err)
	msg := err.Error()
	switch {
	case status == http.StatusNotImplemented:
		// Says what to do instead; nothing to log.
		msg = strings.TrimPrefix(msg, errNotImplemented.Error()+": ")
	case errors.Is(err, errShuttingDown):
		msg = "shutting down: retry"
	case status == http.StatusServiceUnavailable:
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		msg = "store unavailable"
	case status >= 500:
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		msg = "internal error"
	case status == http.StatusRequestEntityTooLarge:
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			msg = errTooLarge.Error()
		}
	case errors.Is(err, errInvalidToken):
		// RFC 6750 3.1: a credential was sent and refused.
		w.Header().Set("WWW-Authenticate", `Bearer realm="sselog", error="invalid_token"`)
	case status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="sselog"`)
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", streamRetryAfter)
	}
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		// A body may still be on its way: answer now and close, rather
		// than wait to discard it (HTTP/2 ends just the stream itself).
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	s.metrics.rejected.WithLabelValues(strconv.Itoa(status)).Inc()
	writeJSON(w, status, errorBody{Error: msg})
}

type errorBody struct {
	Error string `json:"error"`
}

// writeJSON writes v as the whole response. An encoding failure cannot
// happen for the types we send; a write failure means the client left.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Default().Error("encode response", "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	writeRawJSON(w, status, append(b, '\n'))
}

// The JSON answer's headers, shared by every response: net/http only
// reads them, and their capacity equals their length, so an Add by
// anyone copies instead of writing into them.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	noSniff         = []string{"nosniff"}
	noStore         = []string{"no-store"}
)

// writeRawJSON writes b, a JSON document, as the whole response.
func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
