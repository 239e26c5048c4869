package eventlog

import "errors"

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrClosed is returned by every operation on a closed log.
	ErrClosed = errors.New("event log is closed")
	// ErrInvalidID means a string is not a ULID.
	ErrInvalidID = errors.New("invalid event id")
	// ErrInvalidEvent means an event cannot be stored as given.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrIdempotencyKeyReused means an idempotency key within its window
	// was first used with a different request (target or payload).
	ErrIdempotencyKeyReused = errors.New("idempotency key reused")
	// ErrKeyedEventGone means a retry's idempotency key, within its
	// window, names an event that was stored once and that retention has
	// since deleted, in a store that reads a key's id back from its event
	// (jetlog): nothing new is stored, and the first id cannot be given.
	// The bbolt log keeps each key's id apart and never returns it.
	ErrKeyedEventGone = errors.New("the event of this idempotency key was deleted by retention")
	// ErrDamaged means the data file, or a record in it, is damaged.
	ErrDamaged = errors.New("the data file is damaged")
)

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
