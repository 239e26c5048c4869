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
//   - An idempotency key becomes the message's Nats-Msg-Id, so a retry on
//     any node within the stream's duplicate window stores once.
//   - A batch is one JetStream atomic batch publish: all or nothing.
//
// Subjects: <stream>.u.<token> for a user (token: see EncodeUser) and
// <stream>.b for broadcasts.
package jetlog
