package stream

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

// Source is what a stream needs from the log. *eventlog.Log satisfies it.
type Source interface {
	// ReadAfter returns up to limit events after the given id addressed
	// to user or broadcast, in id order, copied out of the store.
	ReadAfter(user string, after eventlog.ID, limit int) (eventlog.Page, error)
	// Changed returns a channel closed by the next commit for user
	// ("" = broadcast). Taken before a read, it misses no commit.
	Changed(user string) <-chan struct{}
	// Last returns the newest committed id.
	Last() eventlog.ID
}

// Options tune a Handler. Zero values take the defaults.
type Options struct {
	Retry        time.Duration // sent as retry: on connect; default 2s
	Heartbeat    time.Duration // ": heartbeat" comment after this long without a write; default 15s
	WriteTimeout time.Duration // a subscriber whose socket accepts no write for this long is closed; default 30s
	Logger       *slog.Logger  // nil = slog.Default()
}

// Defaults for Options.
const (
	DefaultRetry        = 2 * time.Second
	DefaultHeartbeat    = 15 * time.Second
	DefaultWriteTimeout = 30 * time.Second
)

// pageSize is how many events a stream reads from the log at a time (the
// log also bounds a page in bytes, see eventlog.Options.PageBytes). It is
// all a subscriber ever holds: the log is the buffer.
const pageSize = 256

// maxEcho bounds how much of a client's resume point is echoed back.
const maxEcho = 256

// Handler serves event streams from one log. It is safe for concurrent
// use; every stream it serves shares its frame cache.
type Handler struct {
	src    Source
	hub    *Hub
	opts   Options
	log    *slog.Logger
	frames *frameCache // nil formats per subscriber (benchmark baseline)

	retryFrame   []byte
	clearIdle    bool // the heartbeat may come after a write deadline: clear it while idle
	watcher      *closeWatcher
	noDetach     bool // serve every stream on net/http's goroutines (benchmark baseline)
	deadlineWarn sync.Once
	flushWarn    sync.Once
}

// NewHandler returns a handler streaming from src and registering its
// streams with hub.
func NewHandler(src Source, hub *Hub, opts Options) *Handler {
	if opts.Retry <= 0 {
		opts.Retry = DefaultRetry
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{src: src, hub: hub, opts: opts, log: opts.Logger, frames: new(frameCache), watcher: newCloseWatcher()}
	h.clearIdle = opts.Heartbeat > opts.WriteTimeout/2
	h.retryFrame = []byte("retry: " + strconv.FormatInt(opts.Retry.Milliseconds(), 10) + "\n\n")
	return h
}

// Serve streams user's events and broadcasts to w until the client goes
// away, the hub closes or a write stalls. The caller has authenticated r
// and validated user. The resume point is the Last-Event-ID header, else
// the lastEventId query parameter; see the package doc for what is sent.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, user string) {
	h.ServeUntil(w, r, user, time.Time{}, nil)
}

// ServeUntil is Serve for a stream that must end cleanly at end (its
// credential expires then): the response body closes, and the client
// reconnects with a fresh credential and resumes after the last id it
// saw. A zero end never ends the stream. done, if not nil, is called once
// when the stream has ended: an HTTP/1.1 stream goes on after ServeUntil
// returns (see detach.go), so what the caller holds for the stream (a
// place under a stream cap) is released there, not when ServeUntil
// returns.
func (h *Handler) ServeUntil(w http.ResponseWriter, r *http.Request, user string, end time.Time, done func()) {
	SetHeaders(w.Header(), r)
	if h.detachable(r) {
		// A detached stream closes its connection when it ends: a
		// client's pool must not take it back.
		w.Header().Set("Connection", "close")
	}
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	if h.detach(w, r, rc, user, end, done) {
		return
	}
	if done != nil {
		defer done()
	}
	s := &session{h: h, out: httpSink{w, rc}, user: user, endAt: end}
	s.sub = &subscriber{user: user, out: s.out}
	if !h.hub.join(s.sub) {
		// Shutting down: a 200 that ends at once makes the browser
		// retry after retry:, by then against the next server.
		_ = s.setDeadline(time.Now().Add(h.opts.WriteTimeout))
		_, _ = w.Write(h.retryFrame)
		_ = rc.Flush()
		return
	}
	defer func() {
		h.hub.leave(s.sub)
		// Close may have moved the deadline to now between two writes;
		// give the end of the response (the last chunk) its own. A
		// write that did fail stays failed: the writer's error sticks.
		_ = s.setDeadline(time.Now().Add(h.opts.WriteTimeout))
	}()
	s.run(r.Context(), resumePoint(r))
}

// SetHeaders sets the headers of a stream's answer: the event-stream
// type, and no caching, transforming or proxy buffering. A HEAD request
// gets them alone.
func SetHeaders(hdr http.Header, r *http.Request) {
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache, no-transform")
	if r.ProtoMajor == 1 {
		hdr.Set("Connection", "keep-alive")
	}
	hdr.Set("X-Accel-Buffering", "no")
}

// resumePoint returns the client's resume point, trimmed: the header wins
// over the query, and an empty value counts as absent.
func resumePoint(r *http.Request) string {
	if v := strings.TrimSpace(r.Header.Get("Last-Event-ID")); v != "" {
		return v
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if v := strings.TrimSpace(q.Get("lastEventId")); v != "" || err == nil {
		return v
	}
	// The parser drops a pair it cannot read. If that was lastEventId,
	// pass it on as sent: the stream then says it cannot use it (a gap),
	// instead of following the live tail as if none had been sent.
	for pair := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if k, v, _ := strings.Cut(pair, "="); k == "lastEventId" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Reasons carried by gap events.
const (
	gapRetention = "retention"
	gapInvalid   = "invalid-last-event-id"
	gapUnknown   = "unknown-last-event-id"
)

// ResumeFrom, in both, is the id this stream's next event follows: a
// client that has taken no event of its own since may resume from it and
// miss nothing. Without it, a client that connected with no resume point
// (or an unusable one) and lost the connection before its first event
// reconnected to the live tail, and lost what was published meanwhile.
type connectedData struct {
	UserID      string `json:"userId"`
	Timestamp   string `json:"timestamp"`
	LastEventID string `json:"lastEventId"`
	ResumeFrom  string `json:"resumeFrom"`
}

type gapData struct {
	Reason      string `json:"reason"`
	LastEventID string `json:"lastEventId"`
	OldestID    string `json:"oldestId"`
	ResumeFrom  string `json:"resumeFrom"`
}

// controlFrame formats one of the server's own events: JSON data, no id
// line (an id there would move the browser's resume point).
func controlFrame(name string, v any, retry time.Duration) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic("stream: marshal " + name + ": " + err.Error()) // fixed struct types of strings
	}
	b, err := sse.AppendMessage(nil, sse.Message{Event: name, Data: string(data), Retry: retry})
	if err != nil {
		panic("stream: format " + name + ": " + err.Error()) // fixed names
	}
	return b
}

func idText(id eventlog.ID) string {
	if id == eventlog.ZeroID {
		return ""
	}
	return id.String()
}

var errHubClosed = errors.New("hub closed")
