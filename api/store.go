package api

import (
	"context"
	"io"
	"time"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/stream"
)

// Store is what the routes need from the log, beyond what a stream reads.
// *eventlog.Log satisfies it; a store kept elsewhere (a replicated log)
// satisfies the same methods with the same guarantees: an id is returned
// only once the event is durable, ids sort in commit order, a batch is
// all or nothing, and an idempotency key stores once.
type Store interface {
	stream.Source
	// Append stores one event and returns its id once it is durable.
	Append(ctx context.Context, in eventlog.Input) (eventlog.ID, error)
	// AppendBatch stores events in one commit, all or nothing.
	AppendBatch(ctx context.Context, events []eventlog.Input) ([]eventlog.ID, error)
	// AppendKeyedBatch is AppendBatch under one idempotency key for the
	// whole batch, in a key space of its own.
	AppendKeyedBatch(ctx context.Context, key string, events []eventlog.Input) ([]eventlog.ID, error)
	// Counts returns the figures /metrics reports, kept current as the
	// store changes: a scrape must cost nothing however many users exist.
	Counts() eventlog.Counts
	// SnapshotSized writes a consistent copy of the store to w, calling
	// begin with its size first.
	SnapshotSized(w io.Writer, begin func(size int64) error) (int64, error)
	// Stalled reports how long the commit in progress has been running
	// (0 when none is), for /healthz.
	Stalled() time.Duration
}

// Checker is what a store that can become unreachable (a replicated log)
// adds: /healthz names it and answers 503 while Healthy fails, so a load
// balancer takes the node out. A store without it is "bbolt", always
// healthy while the process runs.
type Checker interface {
	// Kind names the store for /healthz.
	Kind() string
	// Healthy returns an error when the store cannot take writes now.
	Healthy(ctx context.Context) error
}
