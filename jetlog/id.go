package jetlog

import (
	"encoding/binary"
	"time"

	"github.com/sselog/sselog/eventlog"
)

// An id keeps the 26-character ULID text form but orders by the stream
// sequence, which is the stream's commit order across the cluster:
//
//	bytes 0-7    stream sequence, big-endian
//	bytes 8-13   publish time in Unix milliseconds, big-endian (48 bits)
//	bytes 14-15  zero
//
// The sequence comes first because commit order must be id order and
// leaders' clocks differ: a time-first id would go backwards when a
// leader with a slower clock takes over. So ulid.Time() of these ids is
// not a wall-clock time; the event's time is in bytes 8-13 (and in
// Event.Time). The zero id is sequence 0: "from the oldest retained".
func makeID(seq uint64, t time.Time) eventlog.ID {
	var id eventlog.ID
	binary.BigEndian.PutUint64(id[:8], seq)
	ms := uint64(max(t.UnixMilli(), 0)) & (1<<48 - 1)
	id[8] = byte(ms >> 40)
	id[9] = byte(ms >> 32)
	binary.BigEndian.PutUint32(id[10:14], uint32(ms))
	return id
}

// seqOf returns the stream sequence an id stands for.
func seqOf(id eventlog.ID) uint64 { return binary.BigEndian.Uint64(id[:8]) }
