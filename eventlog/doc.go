// Package eventlog is sselog's durable, append-only event log on one bbolt
// file.
//
// Every user has a bucket of events keyed by 16-byte binary ULIDs; broadcasts
// live once in their own bucket and are merged into every user's reads. Its
// guarantees: an Append returns only after the transaction holding the event
// has committed with fsync (concurrent appends share one commit); ids come
// from one monotonic generator inside the write transaction, so id order is
// commit order across all buckets and never goes backwards, not within a
// millisecond, not when the clock steps back, not across a restart;
// ReadAfter finds its starting point with a B+tree seek and returns exactly
// the events after a given id; and when retention has deleted events a
// reader asked for, the read reports a Gap instead of losing them silently.
//
// Appends land first in one journal bucket keyed by id, so a commit writes a
// few sequential pages however many users it touches; a background mover
// files journal entries into their users' buckets in batches, inside one
// transaction per batch, and reads merge both places. The newest events are
// also kept in memory (the tail) for the many readers a commit wakes.
// Deleted space is reused by later appends; the file never shrinks.
package eventlog
