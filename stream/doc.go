// Package stream serves a user's events from the log as Server-Sent Events,
// with exact resume.
//
// A stream opens with retry: and a "connected" event (JSON data
// {"userId","timestamp","lastEventId","resumeFrom"}, no id: line, so the
// browser's resume point does not move). resumeFrom, here and in a gap, is
// where the stream stands: the id its next event follows, which a client
// that has taken no event since resumes from without missing one. The resume point is the Last-Event-ID header, else
// the lastEventId query parameter; the zero id 00000000000000000000000000
// means "from the oldest retained", and none means the live tail only.
// From it the stream sends every event addressed to the user or broadcast,
// in id order, each with its id, then the live tail: the subscriber keeps
// its own cursor and pulls pages from the log after it, waking on the log's
// change channels, so there is no gap and no duplicate at the hand-off and
// nothing per subscriber is buffered beyond one page.
//
// What cannot be replayed is said in-band, never with an error status (a
// browser does not retry after one): a "gap" event with JSON data
// {"reason","lastEventId","oldestId","resumeFrom"} and no id: line. Reasons:
// "retention" (events after the resume point were deleted; the replay
// follows from oldestId), "invalid-last-event-id" (the resume point is not
// an id, say a UUID; the live tail follows) and "unknown-last-event-id"
// (an id this log never issued, say after restoring an older backup; the
// live tail follows).
//
// A ": heartbeat" comment is written after Options.Heartbeat without other
// writes. A subscriber whose socket accepts no write for
// Options.WriteTimeout is closed; it resumes from its id when it returns.
// Hub.Close ends every stream cleanly so that clients reconnect elsewhere.
//
// Once its headers are written, an HTTP/1.1 stream is detached from
// net/http (hijacked; the stream writes its chunked body itself, and one
// epoll watcher per process notices clients going away), so that an idle
// stream costs one small goroutine and a few KiB instead of net/http's
// two goroutines and buffers. http.Server.Shutdown does not wait for
// detached streams: call Hub.Wait after Hub.Close. HTTP/2 streams stay on
// net/http.
//
// Each event's frame is formatted once (with the sse package) and shared
// by every subscriber that sends it. The handler reads through Source, a
// small interface it declares, so it knows nothing of which store holds
// the log, nor of routes or auth.
package stream
