// Package jetlog keeps sselog's event log in a NATS JetStream stream, so
// several sselog nodes serve the same contract as one node on bbolt. It
// satisfies the same consumer-side interfaces as eventlog (stream.Source
// and api.Store) with the same guarantees:
//
//   - Append returns an id only once the stream has acknowledged the
//     event (its quorum, for a replicated stream).
//   - Ids sort in the stream's commit order: an id holds the stream
//     sequence in its first eight bytes (see id.go).
//   - ReadAfter merges a user's subject and the broadcast subject in
//     stream order after a resume point parsed back to its sequence.
//   - Each node follows the stream once (one ordered consumer), keeps its
//     newest events in memory and wakes its local readers; readers pull
//     after their own cursor.
//   - An idempotency key becomes the message's Nats-Msg-Id ("s|" + key),
//     so a retry on any node within the stream's duplicate window stores
//     once; the message carries a digest of the request (Sselog-Digest),
//     compared on a repeat, so the key with another request is
//     eventlog.ErrIdempotencyKeyReused. A repeat answers the first id,
//     read back from its event; if retention deleted that event inside
//     the window, the repeat stores nothing and is
//     eventlog.ErrKeyedEventGone.
//   - A batch is one JetStream atomic batch publish: all or nothing. A
//     batch key ("b|" + key, with the batch's digest) is on its first
//     message, in a key space of its own.
//   - Pages are bounded in bytes (Options.PageBytes, Page.Truncated); a
//     resume point the stream never issued is Page.Unknown; a retention
//     hole is one Gap with its end in Gap.Through.
//   - Counts are kept from the follower's periodic check; Stalled is the
//     age of the oldest publish waiting for its ack.
//
// Subjects: <stream>.u.<token> for a user (token: see EncodeUser) and
// <stream>.b for broadcasts.
package jetlog
