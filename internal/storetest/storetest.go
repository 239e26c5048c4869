// Package storetest is the conformance suite every event store behind
// sselog passes: the bbolt log (eventlog) and the JetStream log (jetlog)
// run the same tests, which prove invariants 1-5 of DESIGN.md on the
// store's consumer-side interface: ordered appends under concurrency
// (commit order is id order), exactly-after reads from every resume point,
// broadcasts merged into every user's reads, honest gaps (one per hole),
// resume points never issued (Page.Unknown), idempotency keys naming one
// request (422 on reuse) and batch keys in their own key space, pages
// bounded in bytes, current Counts,
// all-or-nothing batches, wake-ups that miss no commit, and subscribers
// that keep dropping and resuming through a real SSE handler while
// publishers write. Tests only.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/stream"
)

// Store is what the suite tests: what the routes and streams use.
type Store interface {
	stream.Source
	Append(ctx context.Context, in eventlog.Input) (eventlog.ID, error)
	AppendBatch(ctx context.Context, events []eventlog.Input) ([]eventlog.ID, error)
	AppendKeyedBatch(ctx context.Context, key string, events []eventlog.Input) ([]eventlog.ID, error)
	Counts() eventlog.Counts
	Stalled() time.Duration
	Stats() (eventlog.Stats, error)
}

// Options ask the opener for a store with these limits.
type Options struct {
	// MaxEvents caps each user and the broadcasts; 0 means no cap. The
	// store may apply it in the background: the suite waits (bounded).
	MaxEvents int
	// PageBytes bounds a read page's data; 0 means the store's default.
	PageBytes int
}

// Opener opens a fresh, empty store for one test, closed at cleanup.
type Opener func(t *testing.T, opts Options) Store

// wait bounds every wait of the suite; generous for a loaded CI machine.
const wait = 30 * time.Second

// Run runs the suite against the stores open returns.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"OrderConcurrentAppenders", testOrderConcurrentAppenders},
		{"BroadcastsMergedIntoEveryUser", testBroadcastsMerged},
		{"ReadAfterLimit", testReadAfterLimit},
		{"UnknownResumePoint", testUnknownResumePoint},
		{"BatchInInputOrder", testBatchInInputOrder},
		{"BatchAllOrNothing", testBatchAllOrNothing},
		{"IdempotentAppend", testIdempotentAppend},
		{"IdempotentConcurrentRetries", testIdempotentConcurrentRetries},
		{"IdempotentBatch", testIdempotentBatch},
		{"KeyedBatchKeySpace", testKeyedBatchKeySpace},
		{"PageBytes", testPageBytes},
		{"Counts", testCounts},
		{"GapAfterCountCap", testGapAfterCountCap},
		{"GapEventsOnTheWire", testGapEvents},
		{"ChangedNeverMissesACommit", testChangedNeverMisses},
		{"ResumeUnderLoad", testResumeUnderLoad},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}
