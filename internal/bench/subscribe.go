package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sselog/sselog/api"
	"github.com/sselog/sselog/sse"
)

// eventName is the name every benchmark event is published under; the
// server's own events (connected, gap) are told apart by it.
const eventName = "bench"

// streamConn is one subscriber: a raw HTTP/1.1 connection read by the
// stream package's spec-following parser. It is read by one goroutine
// and has no transport machinery behind it, so ten thousand of them stay
// cheap for a client that shares the machine with the server.
type streamConn struct {
	conn       net.Conn
	body       io.ReadCloser
	p          *sse.Parser
	stop       func() bool
	heartbeats int // comments seen; touched only by the reading goroutine
}

// streamReq says which stream to open.
type streamReq struct {
	base    *url.URL
	user    string
	lastID  string // sent as ?lastEventId=, "" for the live tail
	token   string // subscriber token, "" in open mode
	bufSize int    // read buffer; small for idle streams, large for replay
}

// openStream dials, sends the request and checks the answer is an event
// stream. The connection closes when ctx ends.
func openStream(ctx context.Context, d *dialer, r streamReq) (*streamConn, error) {
	u := *r.base
	u.Path = "/v1/users/" + url.PathEscape(r.user) + "/stream"
	q := url.Values{}
	if r.lastID != "" {
		q.Set("lastEventId", r.lastID)
	}
	if r.token != "" {
		q.Set("token", r.token)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("stream request for %s: %w", r.user, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	s := &streamConn{conn: conn, stop: context.AfterFunc(ctx, func() { _ = conn.Close() })}
	if err := s.handshake(req, max(r.bufSize, 512)); err != nil {
		s.Close()
		return nil, fmt.Errorf("open stream for %s: %w", r.user, err)
	}
	return s, nil
}

func (s *streamConn) handshake(req *http.Request, bufSize int) error {
	_ = s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := req.Write(s.conn); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(s.conn, bufSize), req)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	s.body = resp.Body
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("status %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fmt.Errorf("content type %q, want text/event-stream", resp.Header.Get("Content-Type"))
	}
	_ = s.conn.SetDeadline(time.Time{})
	s.p = sse.NewParser(resp.Body)
	s.p.OnComment = func(string) { s.heartbeats++ }
	return nil
}

// Next returns the next event.
func (s *streamConn) Next() (sse.Message, error) { return s.p.Next() }

// expectConnected reads the first event, which must be the server's
// `connected` without an id.
func (s *streamConn) expectConnected() error {
	m, err := s.Next()
	if err != nil {
		return fmt.Errorf("read connected event: %w", err)
	}
	if m.Event != "connected" || m.ID != "" {
		return fmt.Errorf("first event is %q (id %q), want connected without id", m.Event, m.ID)
	}
	return nil
}

// Close ends the stream.
func (s *streamConn) Close() {
	s.stop()
	_ = s.conn.Close()
}

// errGap marks a server's gap event: the run cannot verify what it asked.
var errGap = errors.New("server sent a gap event")

// tokens mints subscriber tokens when the server has a secret.
type tokens struct{ secret []byte }

// For returns user's token, "" in open mode. Tokens live an hour: longer
// than any bounded run.
func (t tokens) For(user string) (string, error) {
	if len(t.secret) == 0 {
		return "", nil
	}
	return api.IssueToken(string(t.secret), user, time.Hour, time.Now())
}
