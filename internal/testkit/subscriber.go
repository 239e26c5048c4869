package testkit

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/sse"
)

// Stream is one open event stream whose body a goroutine reads with
// sse.Parser, as a browser would.
type Stream struct {
	Resp     *http.Response
	tb       testing.TB
	cancel   context.CancelFunc
	msgs     chan sse.Message
	comments atomic.Int64
	p        *sse.Parser
	err      error // the parser's final error, set before msgs closes
	once     sync.Once
}

// Subscribe opens url as an event stream with extra headers (nil for none)
// through http.DefaultClient and requires a 200 text/event-stream answer.
// The stream is closed at the test's cleanup.
func Subscribe(tb testing.TB, url string, header http.Header) *Stream {
	tb.Helper()
	s, err := Dial(http.DefaultClient, url, header)
	require.NoError(tb, err)
	if s.Resp.StatusCode != http.StatusOK || !strings.HasPrefix(s.Resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(s.Resp.Body, 4096))
		s.Close()
		tb.Fatalf("subscribe %s: %s %q: %s", url, s.Resp.Status, s.Resp.Header.Get("Content-Type"), b)
	}
	s.tb = tb
	tb.Cleanup(s.Close)
	return s
}

// Dial opens url with c and starts reading whatever it answers; the
// caller checks Resp and calls Close. Methods that fail a test need a
// Stream from Subscribe, or Bind.
func Dial(c *http.Client, url string, header http.Header) (*Stream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	return Read(ctx, cancel, resp), nil
}

// Read parses resp's body in a goroutine until it ends or ctx does;
// cancel is called by Close.
func Read(ctx context.Context, cancel context.CancelFunc, resp *http.Response) *Stream {
	s := &Stream{Resp: resp, cancel: cancel, msgs: make(chan sse.Message, 1024)}
	p := sse.NewParser(resp.Body)
	s.p = p
	p.OnComment = func(string) { s.comments.Add(1) }
	go func() {
		defer close(s.msgs)
		for {
			m, err := p.Next()
			if err != nil {
				s.err = err
				return
			}
			select {
			case s.msgs <- m:
			case <-ctx.Done():
				s.err = ctx.Err()
				return
			}
		}
	}()
	return s
}

// Bind sets the test that Next, NextData and WaitEnd fail, and closes the
// stream at its cleanup.
func (s *Stream) Bind(tb testing.TB) *Stream {
	s.tb = tb
	tb.Cleanup(s.Close)
	return s
}

// Recv returns the next event, or false when the stream has ended (Err
// then says how). It fails the test if nothing comes within d.
func (s *Stream) Recv(d time.Duration) (sse.Message, bool) {
	s.tb.Helper()
	select {
	case m, ok := <-s.msgs:
		return m, ok
	case <-time.After(d):
		s.tb.Fatalf("no event within %v", d)
		return sse.Message{}, false
	}
}

// Next returns the next event, failing the test if the stream ends or
// nothing comes within d.
func (s *Stream) Next(d time.Duration) sse.Message {
	s.tb.Helper()
	m, ok := s.Recv(d)
	if !ok {
		s.tb.Fatalf("stream ended while waiting for an event: %v", s.err)
	}
	return m
}

// NextData returns the next event that is not one of the server's own
// (connected, gap), failing after d.
func (s *Stream) NextData(d time.Duration) sse.Message {
	s.tb.Helper()
	deadline := time.Now().Add(d)
	for {
		m := s.Next(time.Until(deadline))
		if m.Event != "connected" && m.Event != "gap" {
			return m
		}
	}
}

// Quiet reports that no event arrives within d.
func (s *Stream) Quiet(d time.Duration) bool {
	select {
	case <-s.msgs:
		return false
	case <-time.After(d):
		return true
	}
}

// WaitEnd requires the server to end the stream cleanly (EOF) within d,
// skipping any events still in flight.
func (s *Stream) WaitEnd(d time.Duration) {
	s.tb.Helper()
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-s.msgs:
			if !ok {
				if !errors.Is(s.err, io.EOF) {
					s.tb.Fatalf("stream ended with %v, want a clean end", s.err)
				}
				return
			}
		case <-deadline:
			s.tb.Fatalf("stream still open after %s", d)
		}
	}
}

// Events is the channel of parsed events, closed when the stream ends:
// for a reader in a goroutine that must not fail the test with Fatal.
func (s *Stream) Events() <-chan sse.Message { return s.msgs }

// Comments counts the comment lines (heartbeats) read so far.
func (s *Stream) Comments() int64 { return s.comments.Load() }

// Retry is the reconnection time the stream set, valid once Recv has
// returned false (the reader goroutine has ended).
func (s *Stream) Retry() time.Duration { return s.p.Retry() }

// Err is the parser's final error, valid once Recv has returned false.
func (s *Stream) Err() error { return s.err }

// Close drops the connection and waits for the reader goroutine.
func (s *Stream) Close() {
	s.once.Do(func() {
		s.cancel()
		_ = s.Resp.Body.Close()
		for range s.msgs {
		}
	})
}

// C is the stream's events, closed when it ends (Err then says how), for
// readers that wait in their own goroutine, where a test cannot be
// failed with Fatal.
func (s *Stream) C() <-chan sse.Message { return s.msgs }
