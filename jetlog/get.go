package jetlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sselog/sselog/eventlog"
)

// decode turns a stored message into an event; ok is false for a message
// on a subject this log does not write.
func (l *Log) decode(subject string, seq uint64, h nats.Header, data []byte, ts time.Time) (eventlog.Event, bool) {
	user, ok := l.subj.owner(subject)
	if !ok {
		return eventlog.Event{}, false
	}
	t := ts
	if v := h.Get(hdrTime); v != "" {
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
			t = time.Unix(0, ns)
		}
	}
	return eventlog.Event{ID: makeID(seq, t), User: user, Name: h.Get(hdrName), Data: bytes.Clone(data), Time: t}, true
}

// stored is one message read back.
type stored struct {
	Header nats.Header
	event  eventlog.Event
}

var (
	errNotFound = errors.New("no such message")
	errForeign  = errors.New("not an event of this log")
)

// rawGet reads one message from the stream leader (never a replica that
// may lag), through the JetStream API.
func (l *Log) rawGet(ctx context.Context, seq uint64) (stored, error) {
	req, _ := json.Marshal(map[string]uint64{"seq": seq})
	r, err := l.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+l.opts.Stream, req)
	if err != nil {
		return stored{}, fmt.Errorf("get %d: %w", seq, err)
	}
	var resp struct {
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Header  []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Data, &resp); err != nil {
		return stored{}, fmt.Errorf("get %d: %w", seq, err)
	}
	if resp.Error != nil {
		if resp.Error.Code == 404 {
			return stored{}, fmt.Errorf("get %d: %w", seq, errNotFound)
		}
		return stored{}, fmt.Errorf("get %d: jetstream: %s", seq, resp.Error.Description)
	}
	if resp.Message == nil {
		return stored{}, fmt.Errorf("get %d: empty answer", seq)
	}
	h := parseHeader(resp.Message.Header)
	e, ok := l.decode(resp.Message.Subject, resp.Message.Seq, h, resp.Message.Data, resp.Message.Time)
	if !ok {
		return stored{}, fmt.Errorf("get %d: subject %q: %w", seq, resp.Message.Subject, errForeign)
	}
	return stored{Header: h, event: e}, nil
}

// msgGet reads one event from the stream leader.
func (l *Log) msgGet(ctx context.Context, seq uint64) (eventlog.Event, error) {
	s, err := l.rawGet(ctx, seq)
	return s.event, err
}

func (l *Log) getSeq(ctx context.Context, seq uint64) (eventlog.Event, error) {
	ctx, cancel := l.ctx(ctx)
	defer cancel()
	return l.msgGet(ctx, seq)
}

// parseHeader reads "NATS/1.0\r\nKey: Value\r\n...\r\n\r\n".
func parseHeader(b []byte) nats.Header {
	h := nats.Header{}
	if len(b) == 0 {
		return h
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	if _, err := r.ReadLine(); err != nil {
		return h
	}
	for {
		line, err := r.ReadLine()
		if err != nil || line == "" {
			return h
		}
		k, v, ok := strings.Cut(line, ":")
		if ok {
			h[k] = append(h[k], strings.TrimSpace(v))
		}
	}
}

// directReq is a batched direct get: up to Batch messages on subject
// NextFor from Seq (or StartTime) on.
type directReq struct {
	Seq       uint64     `json:"seq,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	Batch     int        `json:"batch,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

// direct runs one batched direct get and calls fn for each message in
// stream order; more reports whether the answer was cut short (a byte
// limit) with messages still pending.
func (l *Log) direct(ctx context.Context, req directReq, fn func(m *nats.Msg, seq uint64) bool) (more bool, err error) {
	body, _ := json.Marshal(req)
	inbox, c, done := l.replies.open(max(req.Batch, 1) + 2)
	defer done()
	if err := l.nc.PublishRequest("$JS.API.DIRECT.GET."+l.opts.Stream, inbox, body); err != nil {
		return false, err
	}
	n := 0
	for {
		m, err := next(ctx, c)
		if err != nil {
			return false, fmt.Errorf("direct get %s: %w", req.NextFor, err)
		}
		switch m.Header.Get("Status") {
		case "":
		case "204": // end of batch
			np, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			return np > 0 && n < req.Batch, nil
		case "404":
			return false, nil
		case "503":
			return false, fmt.Errorf("direct get %s: %w", req.NextFor, nats.ErrNoResponders)
		default:
			return false, fmt.Errorf("direct get %s: status %s %s", req.NextFor, m.Header.Get("Status"), m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return false, fmt.Errorf("direct get %s: bad sequence: %w", req.NextFor, err)
		}
		n++
		if !fn(m, seq) {
			// Drain the rest: the answer is already on its way.
			continue
		}
		if req.Batch <= 1 {
			return false, nil
		}
	}
}

// findMsgID returns the sequence of the message with id want on subj,
// stored since start.
func (l *Log) findMsgID(ctx context.Context, subj, want string, start time.Time) (uint64, error) {
	var found uint64
	req := directReq{NextFor: subj, Batch: 1000, StartTime: &start}
	for {
		var last uint64
		more, err := l.direct(ctx, req, func(m *nats.Msg, seq uint64) bool {
			last = seq
			if found == 0 && m.Header.Get(nats.MsgIdHdr) == want {
				found = seq
			}
			return true
		})
		if err != nil {
			return 0, err
		}
		if found != 0 {
			return found, nil
		}
		if last == 0 || (!more && last == 0) {
			return 0, errNotFound
		}
		req = directReq{NextFor: subj, Batch: 1000, Seq: last + 1}
	}
}
