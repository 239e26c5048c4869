package eventlog

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/oklog/ulid/v2"
)

// ID is an event id: a ULID, ordered by time then by issue order.
type ID = ulid.ULID

// ZeroID as a resume point means "from the oldest retained event".
var ZeroID ID

// ParseID parses the 26-character text form of an id. Any other input
// returns an error wrapping ErrInvalidID.
func ParseID(s string) (ID, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil {
		return ID{}, fmt.Errorf("parse id %q: %w", truncate(s, 40), ErrInvalidID)
	}
	return id, nil
}

// generator issues strictly increasing ids. It is used only by the writer
// goroutine, inside the write transaction, so it needs no lock.
type generator struct {
	last ID
	rnd  *rand.ChaCha8
}

func newGenerator(last ID) *generator {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rand.Uint32())
	}
	return &generator{last: last, rnd: rand.NewChaCha8(seed)}
}

// next returns an id larger than every id issued before. When the clock has
// not moved past the last id's millisecond (same millisecond, or the clock
// stepped back), it increments the last id instead of trusting the clock.
func (g *generator) next(now time.Time) ID {
	ms := uint64(max(now.UnixMilli(), 0))
	if ms <= g.last.Time() {
		id := g.last
		if increment(&id) {
			g.last = id
			return id
		}
		ms = g.last.Time() + 1 // 2^80 ids in one millisecond: move on.
	}
	var id ID
	if err := id.SetTime(ms); err != nil {
		// Only past year 10889; keep ids increasing regardless.
		id = g.last
		increment(&id)
		g.last = id
		return id
	}
	_, _ = g.rnd.Read(id[6:])
	id[6] &= 0x7f // leave room to increment within the millisecond
	g.last = id
	return id
}

// increment adds one to the 80-bit entropy part; false on overflow.
func increment(id *ID) bool {
	for i := len(id) - 1; i >= 6; i-- {
		id[i]++
		if id[i] != 0 {
			return true
		}
	}
	return false
}
