package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
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
	if err := checkUser(user); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.requireSubscriber(r, user); err != nil {
		s.fail(w, r, err)
		return
	}
	s.stream.Serve(w, r, user)
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

type historyPage struct {
	Events []historyEvent `json:"events"`
	Next   string         `json:"next"`
	Gap    *historyGap    `json:"gap,omitempty"`
}

// handleHistory answers GET /v1/users/:user/events?after=&limit= with a
// page of events after `after`, oldest first. `next` is the last id of
// the page, or `after` itself when the page is empty, so a poller always
// has a cursor to pass back.
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	user := ps.ByName("user")
	if err := checkUser(user); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.requireSubscriber(r, user); err != nil {
		s.fail(w, r, err)
		return
	}
	after, limit, err := pageParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
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
		out := historyPage{Events: []historyEvent{}, Next: p.Last.String(), Gap: &historyGap{Reason: "unknown-last-event-id"}}
		if len(oldest.Events) > 0 {
			out.Gap.OldestID = oldest.Events[0].ID.String()
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	out := historyPage{Events: make([]historyEvent, len(p.Events)), Next: after.String()}
	for i, e := range p.Events {
		name := e.Name
		if name == "" {
			name = "message"
		}
		out.Events[i] = historyEvent{ID: e.ID.String(), Event: name, Data: e.Data, Time: e.Time.UTC().Format(time.RFC3339Nano)}
		out.Next = out.Events[i].ID
	}
	if p.Gap != nil {
		out.Gap = &historyGap{Reason: "retention"}
		if p.Gap.Oldest != eventlog.ZeroID {
			out.Gap.OldestID = p.Gap.Oldest.String()
		}
		if len(p.Events) == 0 {
			// Nothing held after the hole yet: go on from its end, so
			// the next poll does not report the same hole again.
			out.Next = p.Gap.Through.String()
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// pageParams parses after= (a ULID; absent = from the oldest retained) and
// limit= (1..eventlog.MaxLimit; absent = 100).
func pageParams(r *http.Request) (eventlog.ID, int, error) {
	q := r.URL.Query()
	after := eventlog.ZeroID
	if v := q.Get("after"); v != "" {
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
