package jetlog

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/sselog/sselog/eventlog"
)

// Headers sselog sets on every message.
const (
	hdrName = "Sselog-Name" // the event name; absent = "message"
	hdrTime = "Sselog-Time" // publish time, Unix nanoseconds
	// hdrDigest is the digest of an idempotent request, on the message
	// that carries its key (digest).
	hdrDigest = "Sselog-Digest"
)

// MaxBatch is the largest batch JetStream takes in one atomic publish
// (nats-server's default limit).
const MaxBatch = 1000

// codeInProcess is JetStream's error code for a message id whose first
// publish is still being stored.
const codeInProcess = 10158

func inProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == codeInProcess
}

// pause waits a moment before asking again, or until ctx ends.
func pause(ctx context.Context) error {
	t := time.NewTimer(10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// codeBatchDuplicate is JetStream's error code for an atomic batch holding
// a message id it has already stored.
const codeBatchDuplicate = 10201

// Append stores one event and returns its id once the stream has
// acknowledged it. With an idempotency key, a retry on any node within
// the duplicate window returns the first id and stores nothing; the same
// key with another request (another target, name or data) is
// eventlog.ErrIdempotencyKeyReused. If ctx ends (or the store's timeout
// passes) first, the event may still be stored, as with eventlog.
//
// The key becomes the message's Nats-Msg-Id ("s|" + key: one key space
// for every target, as eventlog's), so JetStream's de-duplication stores
// once across nodes; JetStream cannot compare bodies, so the message also
// carries a digest of the request (Sselog-Digest), which a repeat
// compares with its own.
func (l *Log) Append(ctx context.Context, in eventlog.Input) (eventlog.ID, error) {
	if err := validate(in); err != nil {
		return eventlog.ID{}, fmt.Errorf("append: %w", err)
	}
	if l.isClosed() {
		return eventlog.ID{}, eventlog.ErrClosed
	}
	ctx, cancel := l.ctx(ctx)
	defer cancel()
	defer l.inflight.begin()()
	now := l.opts.Now()
	m := l.message(in, now)
	if in.IdempotencyKey != "" {
		m.Header.Set(nats.MsgIdHdr, singleMsgID(in.IdempotencyKey))
		m.Header.Set(hdrDigest, digest(false, []eventlog.Input{in}))
	}
	ack, err := l.js.PublishMsg(ctx, m)
	for err != nil && inProcess(err) {
		// The same key is being stored right now (a concurrent retry):
		// ask again once it is, to get its id (or a 422).
		if err := pause(ctx); err != nil {
			return eventlog.ID{}, fmt.Errorf("append %q: %w", in.User, err)
		}
		ack, err = l.js.PublishMsg(ctx, m)
	}
	if err != nil {
		return eventlog.ID{}, fmt.Errorf("append %q: %w", in.User, err)
	}
	if ack.Duplicate {
		s, err := l.rawGet(ctx, ack.Sequence)
		if errors.Is(err, errNotFound) {
			return eventlog.ID{}, gone(in.IdempotencyKey, ack.Sequence)
		}
		if err != nil {
			return eventlog.ID{}, fmt.Errorf("append %q: idempotent repeat of %d: %w", in.User, ack.Sequence, err)
		}
		if s.Header.Get(hdrDigest) != m.Header.Get(hdrDigest) {
			return eventlog.ID{}, reused(in.IdempotencyKey)
		}
		l.sawSeq(ack.Sequence) // this node reads what it answered
		return s.event.ID, nil
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
	return m
}

// Message ids: a single publish's key and a batch's key live in key
// spaces of their own, as in eventlog; neither is scoped to a target (a
// key names one request; reused for another target it is refused).
func singleMsgID(key string) string { return "s|" + key }
func batchMsgID(key string) string  { return "b|" + key }

// digest is eventlog's request digest, in hex for a header.
func digest(batch bool, events []eventlog.Input) string {
	return hex.EncodeToString(eventlog.RequestDigest(batch, events))
}

func reused(key string) error {
	return fmt.Errorf("%w: Idempotency-Key %q was first used with a different request", eventlog.ErrIdempotencyKeyReused, shortKey(key))
}

// shortKey is a key as an error names it.
func shortKey(key string) string {
	if len(key) > 64 {
		return key[:64] + "..."
	}
	return key
}

// gone is the answer to a retry whose first event retention deleted
// inside the key's window: JetStream still knows the key, so nothing is
// stored again, but the first id is read back from the event, which is
// gone. An error a client does not retry, so it stops before the window
// ends (a retry after it would store the event again).
func gone(key string, seq uint64) error {
	at := ""
	if seq != 0 {
		at = fmt.Sprintf(" (stream sequence %d)", seq)
	}
	return fmt.Errorf("%w: Idempotency-Key %q was used for an event%s that has since been deleted: nothing stored, its id cannot be given", eventlog.ErrKeyedEventGone, shortKey(key), at)
}

func validate(in eventlog.Input) error {
	switch {
	case len(in.User) > eventlog.MaxUserLen:
		return fmt.Errorf("%w: user longer than %d bytes", eventlog.ErrInvalidEvent, eventlog.MaxUserLen)
	case len(in.Name) > eventlog.MaxNameLen:
		return fmt.Errorf("%w: name longer than %d bytes", eventlog.ErrInvalidEvent, eventlog.MaxNameLen)
	case hasControl(in.User), hasControl(in.Name), hasControl(in.IdempotencyKey):
		return fmt.Errorf("%w: control character in user, name or idempotency key", eventlog.ErrInvalidEvent)
	case len(in.IdempotencyKey) > maxKeyLen:
		return fmt.Errorf("%w: idempotency key longer than %d bytes", eventlog.ErrInvalidEvent, maxKeyLen)
	case !json.Valid(in.Data):
		return fmt.Errorf("%w: data is not one JSON value", eventlog.ErrInvalidEvent)
	}
	return nil
}

const maxKeyLen = 1024

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
// MaxBatch events. Its events carry no idempotency keys of their own (an
// atomic batch is stored whole or not at all, so a key per event cannot
// store part of it): key the batch as a whole with AppendKeyedBatch.
func (l *Log) AppendBatch(ctx context.Context, events []eventlog.Input) ([]eventlog.ID, error) {
	return l.AppendKeyedBatch(ctx, "", events)
}

// AppendKeyedBatch is AppendBatch under one idempotency key for the batch
// as a whole, in a key space of its own: a retry of the same batch (on
// any node, within the duplicate window) returns the first ids and stores
// nothing; the key with another batch is eventlog.ErrIdempotencyKeyReused.
// The key is the first message's Nats-Msg-Id ("b|" + key), and that
// message carries the batch's digest.
func (l *Log) AppendKeyedBatch(ctx context.Context, key string, events []eventlog.Input) ([]eventlog.ID, error) {
	switch {
	case len(events) == 0:
		return nil, fmt.Errorf("append: %w: empty batch", eventlog.ErrInvalidEvent)
	case len(events) > MaxBatch:
		return nil, fmt.Errorf("append: %w: a batch holds at most %d events in cluster mode", eventlog.ErrInvalidEvent, MaxBatch)
	case len(key) > maxKeyLen:
		return nil, fmt.Errorf("append: %w: idempotency key longer than %d bytes", eventlog.ErrInvalidEvent, maxKeyLen)
	case hasControl(key):
		return nil, fmt.Errorf("append: %w: control character in idempotency key", eventlog.ErrInvalidEvent)
	}
	for i, in := range events {
		if err := validate(in); err != nil {
			return nil, fmt.Errorf("append event %d: %w", i, err)
		}
		if in.IdempotencyKey != "" {
			return nil, fmt.Errorf("append event %d: %w: an event of a batch carries no key of its own in cluster mode (key the batch as a whole)", i, eventlog.ErrInvalidEvent)
		}
	}
	if l.isClosed() {
		return nil, eventlog.ErrClosed
	}
	ctx, cancel := l.ctx(ctx)
	defer cancel()
	defer l.inflight.begin()()
	now := l.opts.Now()
	sum := ""
	if key != "" {
		sum = digest(true, events)
	}
	ack, err := l.sendBatch(ctx, key, sum, events, now)
	for err == nil && ack.Error != nil && ack.Error.ErrCode == codeInProcess {
		// The same key is being stored right now (a concurrent retry):
		// ask again once it is.
		if err = pause(ctx); err == nil {
			ack, err = l.sendBatch(ctx, key, sum, events, now)
		}
	}
	if err != nil {
		return nil, err
	}
	switch {
	case key != "" && ack.Duplicate:
		return l.repeatedBatch(ctx, key, sum, events, ack.Seq)
	case key != "" && ack.Error != nil && ack.Error.ErrCode == codeBatchDuplicate:
		return l.repeatedBatch(ctx, key, sum, events, 0)
	case ack.Error != nil:
		return nil, fmt.Errorf("append batch of %d: jetstream: %s (%d)", len(events), ack.Error.Description, ack.Error.ErrCode)
	case ack.Duplicate:
		return nil, fmt.Errorf("append batch of %d: jetstream answered duplicate for a batch without a key", len(events))
	}
	l.sawSeq(ack.Seq)
	ids := make([]eventlog.ID, len(events))
	first := ack.Seq - uint64(len(events)) + 1
	for i := range ids {
		ids[i] = makeID(first+uint64(i), now)
	}
	return ids, nil
}

// repeatedBatch answers a batch whose key the stream has seen: seq is the
// first batch's first message (the one carrying the key) when JetStream
// said which, else it is looked up. The first batch is contiguous and
// its events share one time, so its ids follow from its first message.
func (l *Log) repeatedBatch(ctx context.Context, key, sum string, events []eventlog.Input, seq uint64) ([]eventlog.ID, error) {
	want := batchMsgID(key)
	if seq == 0 {
		// The same batch's first message is on its first event's
		// subject: look there (one user's events, at most the cap), not
		// through every message of the window, which on a busy stream
		// outlasted the request's timeout. Only a batch that is not the
		// same (a 422) may have started elsewhere.
		start := l.opts.Now().Add(-l.opts.IdempotencyWindow)
		var err error
		seq, err = l.findMsgID(ctx, l.subj.user(events[0].User), want, start)
		if errors.Is(err, errNotFound) {
			seq, err = l.findMsgID(ctx, l.subj.all(), want, start)
		}
		if errors.Is(err, errNotFound) {
			return nil, gone(key, 0)
		}
		if err != nil {
			return nil, fmt.Errorf("append batch: find first batch: %w", err)
		}
	}
	first, err := l.rawGet(ctx, seq)
	if errors.Is(err, errNotFound) {
		return nil, gone(key, seq)
	}
	if err != nil {
		return nil, fmt.Errorf("append batch: read first batch: %w", err)
	}
	if first.Header.Get(nats.MsgIdHdr) != want || first.Header.Get(hdrDigest) != sum {
		return nil, reused(key)
	}
	ids := make([]eventlog.ID, len(events))
	for i := range ids {
		ids[i] = makeID(seq+uint64(i), first.event.Time)
	}
	l.sawSeq(seq + uint64(len(events)) - 1) // this node reads what it answered
	return ids, nil
}

// sendBatch publishes events as one atomic batch and returns JetStream's
// answer.
func (l *Log) sendBatch(ctx context.Context, key, sum string, events []eventlog.Input, now time.Time) (pubAck, error) {
	inbox := l.nc.NewRespInbox()
	sub, err := l.nc.SubscribeSync(inbox)
	if err != nil {
		return pubAck{}, fmt.Errorf("append batch: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	batchID := nuid.Next()
	for i, in := range events {
		m := l.message(in, now)
		if i == 0 && key != "" {
			m.Header.Set(nats.MsgIdHdr, batchMsgID(key))
			m.Header.Set(hdrDigest, sum)
		}
		m.Header.Set("Nats-Batch-Id", batchID)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i == len(events)-1 {
			m.Header.Set("Nats-Batch-Commit", "1")
			m.Reply = inbox
		}
		if err := l.nc.PublishMsg(m); err != nil {
			return pubAck{}, fmt.Errorf("append batch: %w", err)
		}
	}
	for {
		r, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return pubAck{}, fmt.Errorf("append batch of %d: %w", len(events), err)
		}
		if len(r.Data) == 0 {
			if r.Header.Get("Status") == "503" {
				return pubAck{}, fmt.Errorf("append batch of %d: %w", len(events), nats.ErrNoResponders)
			}
			continue
		}
		var ack pubAck
		if err := json.Unmarshal(r.Data, &ack); err != nil {
			return pubAck{}, fmt.Errorf("append batch of %d: bad answer: %w", len(events), err)
		}
		if ack.Error != nil || ack.Stream != "" {
			return ack, nil
		}
	}
}
