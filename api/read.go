package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

// handleStream opens a user's SSE stream. Only what a retry cannot fix is
// answered with an error status (a browser never retries after one): a bad
// user id, bad credentials. The resume point is the stream handler's.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	s.serveStream(w, r, ps.ByName("user"))
}

// handleStreamAlias serves GET /api/events?userId=, the URL of the SSE
// recipe sselog replaces, so apps written against it work unchanged.
func (s *Server) handleStreamAlias(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	user := r.URL.Query().Get("userId")
	if user == "" {
		s.fail(w, r, fmt.Errorf("%w: userId required", errBadRequest))
		return
	}
	s.serveStream(w, r, user)
}

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, user string) {
	until, ok := s.reader(w, r, user)
	if !ok {
		return
	}
	var end time.Time
	if !until.IsZero() {
		// until is on the token clock (s.now); the stream's timer runs on
		// the wall clock.
		end = time.Now().Add(until.Sub(s.now()))
	}
	if err := s.limits.acquire(user); err != nil {
		s.fail(w, r, err)
		return
	}
	acceptedLong(w)
	// The place is released when the stream ends, which for a detached
	// HTTP/1.1 stream is after ServeUntil returns.
	s.stream.ServeUntil(w, r, user, end, func() { s.limits.release(user) })
}

// reader checks the user id and that the request may read user's events,
// answering the request itself when not. until is when the token that
// allowed it expires (zero in open mode).
func (s *Server) reader(w http.ResponseWriter, r *http.Request, user string) (until time.Time, ok bool) {
	err := checkUser(user)
	if err == nil {
		until, err = s.requireSubscriber(r, user)
	}
	if err != nil {
		s.fail(w, r, err)
		return time.Time{}, false
	}
	return until, true
}

// historyEvent is one event in a history page.
type historyEvent struct {
	ID    string          `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Time  string          `json:"time"`
}

// historyGap tells a reader that retention deleted events after its
// `after`, as the stream's gap event does.
type historyGap struct {
	Reason   string `json:"reason"`
	OldestID string `json:"oldestId"`
}

// historyEnd is what follows the events in a history page.
type historyEnd struct {
	Next string      `json:"next"`
	Gap  *historyGap `json:"gap,omitempty"`
	// More is set when the page stopped at its byte bound before its
	// limit: pass next as after= for the rest.
	More bool `json:"more,omitempty"`
}

// handleHistory answers GET /v1/users/:user/events?after=&limit= with a
// page of events after `after`, oldest first. `next` is the last id of
// the page, or `after` itself when the page is empty, so a poller always
// has a cursor to pass back. A page is bounded in count (limit) and in
// bytes (the log's page bound), and is encoded as it is sent, each write
// under the write timeout, so a client that stops reading holds little
// and not for long.
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	user := ps.ByName("user")
	if _, ok := s.reader(w, r, user); !ok {
		return
	}
	after, limit, err := pageParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	acceptedLong(w)
	p, err := s.log.ReadAfter(user, after, limit)
	if err != nil {
		s.fail(w, r, fmt.Errorf("history of %q: %w", user, err))
		return
	}
	if p.Unknown {
		// Never issued by this log (say, a cursor from after the backup
		// this file was restored from, however many events came since):
		// say so, as the stream does, and point next at the newest id,
		// so a poller follows what comes now.
		oldest, err := s.log.ReadAfter(user, eventlog.ZeroID, 1)
		if err != nil {
			s.fail(w, r, fmt.Errorf("history of %q: %w", user, err))
			return
		}
		end := historyEnd{Next: p.Last.String(), Gap: &historyGap{Reason: "unknown-last-event-id"}}
		if len(oldest.Events) > 0 {
			end.Gap.OldestID = oldest.Events[0].ID.String()
		}
		s.historyDone(r, user, s.writeHistory(w, nil, end))
		return
	}
	end := historyEnd{Next: after.String(), More: p.Truncated}
	if n := len(p.Events); n > 0 {
		end.Next = p.Events[n-1].ID.String()
	}
	if p.Gap != nil {
		end.Gap = &historyGap{Reason: "retention"}
		if p.Gap.Oldest != eventlog.ZeroID {
			end.Gap.OldestID = p.Gap.Oldest.String()
		}
		if len(p.Events) == 0 {
			// Nothing held after the hole yet: go on from its end, so
			// the next poll does not report the same hole again.
			end.Next = p.Gap.Through.String()
		}
	}
	s.historyDone(r, user, s.writeHistory(w, p.Events, end))
}

// historyDone logs a history answer that was cut: by the write timeout (a
// client that stopped reading; net/http cancels the request's context on
// that write error too, so it is told apart first) or by an error of ours.
// A client that went away is not worth a line.
func (s *Server) historyDone(r *http.Request, user string, err error) {
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.logger.Info("history answer cut: the client stopped reading", "user", user, "timeout", s.backupWriteTimeout())
	case r.Context().Err() == nil:
		s.logger.Info("history answer cut", "user", user, "err", err)
	}
}

// writeHistory writes {"events":[...],"next":...} one event at a time.
func (s *Server) writeHistory(w http.ResponseWriter, events []eventlog.Event, end historyEnd) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(&deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: s.backupWriteTimeout()}, 32<<10)
	_, _ = bw.WriteString(`{"events":[`)
	for i, e := range events {
		name := e.Name
		if name == "" {
			name = "message"
		}
		b, err := json.Marshal(historyEvent{ID: e.ID.String(), Event: name, Data: e.Data, Time: e.Time.UTC().Format(time.RFC3339Nano)})
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.ID, err)
		}
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	tail, err := json.Marshal(end)
	if err != nil {
		return fmt.Errorf("encode page end: %w", err)
	}
	_, _ = bw.WriteString("],")
	_, _ = bw.Write(tail[1:]) // without its opening brace
	_ = bw.WriteByte('\n')
	return bw.Flush()
}

// pageParams parses after= (a ULID; absent = from the oldest retained) and
// limit= (1..eventlog.MaxLimit; absent = 100).
func pageParams(r *http.Request) (eventlog.ID, int, error) {
	after := eventlog.ZeroID
	// Strictly: URL.Query drops what it cannot parse, and a dropped after=
	// would answer the page from the oldest retained with a 200.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return after, 0, fmt.Errorf("%w: malformed query string (%v)", errBadRequest, err)
	}
	for _, k := range []string{"after", "limit"} {
		if len(q[k]) > 1 {
			return after, 0, fmt.Errorf("%w: %s= given %d times", errBadRequest, k, len(q[k]))
		}
	}
	if v := strings.TrimSpace(q.Get("after")); v != "" { // trimmed as Last-Event-ID is
		id, err := eventlog.ParseID(v)
		if err != nil {
			return after, 0, fmt.Errorf("%w: after=%q is not an event id (a 26-character ULID)", errBadRequest, sse.Clip(v, 40))
		}
		after = id
	}
	limit := defaultHistoryLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > eventlog.MaxLimit {
			return after, 0, fmt.Errorf("%w: limit=%q must be an integer from 1 to %d", errBadRequest, sse.Clip(v, 20), eventlog.MaxLimit)
		}
		limit = n
	}
	return after, limit, nil
}

// defaultHistoryLimit keeps an unparameterised history call small.
const defaultHistoryLimit = 100
