package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/sselog/sselog/sse"
)

// Server events carry no id and are not part of the user's history.
const (
	EventConnected = "connected"
	EventGap       = "gap"
)

// Tail follows user's stream from lastID ("" = live events only; the zero
// id 00000000000000000000000000 = from the oldest retained) and calls fn
// for every message, the server's own "connected" and "gap" included.
// When the connection drops it reconnects with backoff (the server's
// retry: as the floor, doubling to the maximum, with jitter), sending the
// id of the last event fn accepted as Last-Event-ID — or, before the
// first, where the stream stood (the resumeFrom of the connected event,
// or of a gap that said the id it had was not usable) — so fn sees every
// event once, in order. It returns when ctx ends (ctx's error), when fn
// fails (fn's error; nil for ErrStop), or when the server refuses the
// stream for good (204, or a 4xx but 404, 408 and 429: bad user id or
// credentials).
func (c *Client) Tail(ctx context.Context, user, token, lastID string, fn func(sse.Message) error) error {
	t := &tailer{c: c, user: user, token: token, last: lastID, fn: fn, base: c.minBackoff}
	delay := t.base
	for {
		progressed, err := t.once(ctx)
		var fe fnError
		var ae *Error
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &fe):
			if errors.Is(fe.err, ErrStop) {
				return nil
			}
			return fe.err
		case errors.As(err, &ae) && final(ae.Status):
			return fmt.Errorf("tail %q: %w", user, err)
		}
		if progressed {
			delay = t.base
		}
		wait := delay/2 + rand.N(delay/2+1)
		if c.onRetry != nil {
			c.onRetry(err, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		delay = min(2*delay, max(c.maxBackoff, t.base))
	}
}

type tailer struct {
	c     *Client
	user  string
	token string
	last  string
	fn    func(sse.Message) error
	base  time.Duration
}

// fnError marks an error returned by the callback: Tail stops on it.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// once runs one connection until it ends. progressed reports whether it
// got as far as an open stream, which resets the backoff.
func (t *tailer) once(ctx context.Context) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(t.c.streamIdle, cancel)
	defer idle.Stop()
	req, err := t.c.request(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(t.user)+"/stream", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if t.last != "" {
		req.Header.Set("Last-Event-ID", t.last)
	}
	setBearer(req, t.token)
	resp, err := t.c.hc.Do(req)
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		defer drain(resp.Body)
		return false, responseError(resp)
	}
	// A stream is never drained: it does not end by itself. The deferred
	// cancel drops the connection.
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, fmt.Errorf("stream answered with Content-Type %q", resp.Header.Get("Content-Type"))
	}
	p := sse.NewParser(&idleReader{r: resp.Body, t: idle, d: t.c.streamIdle})
	for {
		m, err := p.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil // the server ended the stream: reconnect
			}
			return true, err
		}
		if m.Retry > 0 {
			t.base = m.Retry
		}
		if err := t.fn(m); err != nil {
			return true, fnError{err}
		}
		switch {
		case m.Event == EventConnected && t.last == "", m.Event == EventGap:
			// Where the stream stands: with no id of its own (the live
			// tail, or a resume point the server could not use), a
			// reconnect from here misses nothing published meanwhile.
			if from := ResumeFrom(m); from != "" {
				t.last = from
			}
		case m.Event != EventConnected && m.ID != "":
			t.last = m.ID
		}
	}
}

// final reports whether a stream answered with status should not be
// asked again: 204 is the server's polite stop, and a 4xx means a bad
// user id or credentials. A 404 is retried, as sselog.js retries it:
// proxies answer it while a deploy is under way. 408 and 429 are
// retried too.
func final(status int) bool {
	switch status {
	case http.StatusNoContent:
		return true
	case http.StatusNotFound, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

// ResumeFrom is where a stream stood when it sent its connected or gap
// event m (their data's resumeFrom), or "": an id to resume from for a
// client that has taken no event since, Tail's own choice then. A client
// that saves its place, as sselog tail's --state does, saves this too.
func ResumeFrom(m sse.Message) string {
	if m.Event != EventConnected && m.Event != EventGap {
		return ""
	}
	var v struct {
		ResumeFrom string `json:"resumeFrom"`
	}
	if json.Unmarshal([]byte(m.Data), &v) != nil {
		return ""
	}
	return v.ResumeFrom
}

// idleReader pushes the idle timer back on every read that brings bytes.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.d)
	}
	return n, err
}
