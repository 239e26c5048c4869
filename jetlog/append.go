package jetlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/sselog/sselog/eventlog"
)

// Headers sselog sets on every message.
const (
	hdrName = "Sselog-Name" // the event name; absent = "message"
	hdrTime = "Sselog-Time" // publish time, Unix nanoseconds
)

// MaxBatch is the largest batch JetStream takes in one atomic publish
// (nats-server's default limit).
const MaxBatch = 1000

// codeBatchDuplicate is JetStream's error code for an atomic batch holding
// a message id it has already stored.
const codeBatchDuplicate = 10201

// Append stores one event and returns its id once the stream has
// acknowledged it. With an idempotency key, a retry on any node within
// the duplicate window returns the first id and stores nothing. If ctx
// ends (or the store's timeout passes) first, the event may still be
// stored, as with eventlog.
func (l *Log) Append(ctx context.Context, in eventlog.Input) (eventlog.ID, error) {
	if err := validate(in); err != nil {
		return eventlog.ID{}, fmt.Errorf("append: %w", err)
	}
	if l.isClosed() {
		return eventlog.ID{}, eventlog.ErrClosed
	}
	ctx, cancel := l.ctx(ctx)
	defer cancel()
	now := l.opts.Now()
	ack, err := l.js.PublishMsg(ctx, l.message(in, now))
	if err != nil {
		return eventlog.ID{}, fmt.Errorf("append %q: %w", in.User, err)
	}
	if ack.Duplicate {
		e, err := l.msgGet(ctx, ack.Sequence)
		if err != nil {
			return eventlog.ID{}, fmt.Errorf("append %q: idempotent repeat of %d: %w", in.User, ack.Sequence, err)
		}
		l.sawSeq(ack.Sequence) // this node reads what it answered
		return e.ID, nil
	}
	l.sawSeq(ack.Sequence)
	return makeID(ack.Sequence, now), nil
}

func (l *Log) message(in eventlog.Input, now time.Time) *nats.Msg {
	m := nats.NewMsg(l.subj.user(in.User))
	m.Data = in.Data
	if in.Name != "" {
		m.Header.Set(hdrName, in.Name)
	}
	m.Header.Set(hdrTime, strconv.FormatInt(now.UnixNano(), 10))
	if in.IdempotencyKey != "" {
		m.Header.Set(nats.MsgIdHdr, msgID(m.Subject, in.IdempotencyKey))
	}
	return m
}

// msgID scopes an idempotency key to its target, as eventlog does.
func msgID(subject, key string) string { return subject + "|" + key }

func validate(in eventlog.Input) error {
	switch {
	case len(in.User) > eventlog.MaxUserLen:
		return fmt.Errorf("%w: user longer than %d bytes", eventlog.ErrInvalidEvent, eventlog.MaxUserLen)
	case len(in.Name) > eventlog.MaxNameLen:
		return fmt.Errorf("%w: name longer than %d bytes", eventlog.ErrInvalidEvent, eventlog.MaxNameLen)
	case hasControl(in.User), hasControl(in.Name), hasControl(in.IdempotencyKey):
		return fmt.Errorf("%w: control character in user, name or idempotency key", eventlog.ErrInvalidEvent)
	case len(in.IdempotencyKey) > 1024:
		return fmt.Errorf("%w: idempotency key longer than 1024 bytes", eventlog.ErrInvalidEvent)
	case !json.Valid(in.Data):
		return fmt.Errorf("%w: data is not one JSON value", eventlog.ErrInvalidEvent)
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// pubAck is JetStream's answer to a publish.
type pubAck struct {
	Stream    string `json:"stream"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
	Count     int    `json:"count"`
	Error     *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// AppendBatch stores events for any mix of users as one JetStream atomic
// batch: the stream commits all of them, contiguously, or none. At most
// MaxBatch events. With idempotency keys (the API gives key#i to event
// i), a retried batch returns the first batch's ids and stores nothing.
func (l *Log) AppendBatch(ctx context.Context, events []eventlog.Input) ([]eventlog.ID, error) {
	switch {
	case len(events) == 0:
		return nil, fmt.Errorf("append: %w: empty batch", eventlog.ErrInvalidEvent)
	case len(events) > MaxBatch:
		return nil, fmt.Errorf("append: %w: a batch holds at most %d events in cluster mode", eventlog.ErrInvalidEvent, MaxBatch)
	}
	for i, in := range events {
		if err := validate(in); err != nil {
			return nil, fmt.Errorf("append event %d: %w", i, err)
		}
	}
	if l.isClosed() {
		return nil, eventlog.ErrClosed
	}
	ctx, cancel := l.ctx(ctx)
	defer cancel()
	now := l.opts.Now()
	inbox := l.nc.NewRespInbox()
	sub, err := l.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("append batch: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	batchID := nuid.Next()
	for i, in := range events {
		m := l.message(in, now)
		m.Header.Set("Nats-Batch-Id", batchID)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i == len(events)-1 {
			m.Header.Set("Nats-Batch-Commit", "1")
			m.Reply = inbox
		}
		if err := l.nc.PublishMsg(m); err != nil {
			return nil, fmt.Errorf("append batch: %w", err)
		}
	}
	var ack pubAck
	for {
		r, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("append batch of %d: %w", len(events), err)
		}
		if len(r.Data) == 0 {
			if r.Header.Get("Status") == "503" {
				return nil, fmt.Errorf("append batch of %d: %w", len(events), nats.ErrNoResponders)
			}
			continue
		}
		ack = pubAck{}
		if err := json.Unmarshal(r.Data, &ack); err != nil {
			return nil, fmt.Errorf("append batch of %d: bad answer: %w", len(events), err)
		}
		if ack.Error != nil || ack.Stream != "" {
			break
		}
	}
	switch {
	case ack.Error != nil && ack.Error.ErrCode == codeBatchDuplicate:
		return l.repeatedBatch(ctx, events)
	case ack.Error != nil:
		return nil, fmt.Errorf("append batch of %d: jetstream: %s (%d)", len(events), ack.Error.Description, ack.Error.ErrCode)
	case ack.Duplicate:
		return l.repeatedBatch(ctx, events)
	}
	l.sawSeq(ack.Seq)
	ids := make([]eventlog.ID, len(events))
	first := ack.Seq - uint64(len(events)) + 1
	for i := range ids {
		ids[i] = makeID(first+uint64(i), now)
	}
	return ids, nil
}

var errKeyReused = errors.New("idempotency key reused for a different batch")

// repeatedBatch answers a batch whose idempotency keys the stream has
// seen: it finds the first batch (contiguous, as every atomic batch is)
// from its first event's message id and returns its ids.
func (l *Log) repeatedBatch(ctx context.Context, events []eventlog.Input) ([]eventlog.ID, error) {
	first := events[0]
	if first.IdempotencyKey == "" {
		return nil, fmt.Errorf("append batch: %w: %w", eventlog.ErrInvalidEvent, errKeyReused)
	}
	subj := l.subj.user(first.User)
	want := msgID(subj, first.IdempotencyKey)
	start := l.opts.Now().Add(-l.opts.IdempotencyWindow)
	seq, err := l.findMsgID(ctx, subj, want, start)
	if err != nil {
		return nil, fmt.Errorf("append batch: find first batch: %w", err)
	}
	ids := make([]eventlog.ID, len(events))
	for i, in := range events {
		m, err := l.rawGet(ctx, seq+uint64(i))
		if err != nil {
			return nil, fmt.Errorf("append batch: read first batch: %w", err)
		}
		if m.Header.Get(nats.MsgIdHdr) != msgID(l.subj.user(in.User), in.IdempotencyKey) {
			return nil, fmt.Errorf("append batch: %w: %w", eventlog.ErrInvalidEvent, errKeyReused)
		}
		ids[i] = m.event.ID
	}
	l.sawSeq(seq + uint64(len(events)) - 1) // this node reads what it answered
	return ids, nil
}
