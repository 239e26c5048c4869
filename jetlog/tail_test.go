package jetlog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// A read across sequences the follower never saw (retention deleted
// them before delivery) is not answered from memory; once eviction
// passes the hole, memory answers again.
func TestTailHoles(t *testing.T) {
	tl := newTail(2, eventlog.ZeroID)
	first := newTail(2, eventlog.ZeroID)
	require.True(t, first.add(eventlog.Event{ID: makeID(3, time.Unix(1, 0))}))
	assert.Equal(t, []hole{{1, 2}}, first.holes, "a follower on an empty stream whose first delivery is 3 never saw 1 and 2")
	ev := func(seq uint64, user string) eventlog.Event {
		return eventlog.Event{ID: makeID(seq, time.Unix(1, 0)), User: user}
	}
	require.True(t, tl.add(ev(1, "u")))
	require.True(t, tl.add(ev(2, "")))
	require.False(t, tl.add(ev(2, "")), "seen already")
	require.True(t, tl.add(ev(5, "u"))) // 3 and 4 were deleted unseen
	_, ok, holed := tl.read("u", 0, 10, limits{})
	assert.False(t, ok)
	assert.True(t, holed)
	assert.Equal(t, uint64(5), tl.upper(true))
	p, ok, _ := tl.read("u", 4, 10, limits{})
	require.True(t, ok, "past the hole")
	assert.Equal(t, []eventlog.ID{makeID(5, time.Unix(1, 0))}, idsOf(p.Events))
	require.True(t, tl.add(ev(6, "u"))) // evicts 1, 2: the hole is above the floor
	assert.Equal(t, []hole{{3, 4}}, tl.holes)
	assert.Equal(t, uint64(2), tl.upper(false))
	require.True(t, tl.add(ev(7, "u")))
	require.True(t, tl.add(ev(8, "u"))) // evicts 5, 6: the floor passes the hole
	assert.Empty(t, tl.holes)
	assert.Equal(t, uint64(6), tl.upper(false))
	_, ok, holed = tl.read("u", 1, 10, limits{})
	assert.False(t, ok, "below the floor")
	assert.False(t, holed)
}

// The tail applies the stream's limits to what it holds: a subject with
// more than maxEvents events after the resume point lost the oldest.
func TestTailLimits(t *testing.T) {
	tl := newTail(100, eventlog.ZeroID)
	now := time.Unix(1000, 0)
	for seq := uint64(1); seq <= 6; seq++ {
		tl.add(eventlog.Event{ID: makeID(seq, now), User: "u", Time: now.Add(time.Duration(seq) * time.Second)})
	}
	p, _, _ := tl.read("u", 1, 10, limits{maxEvents: 3})
	require.NotNil(t, p.Gap)
	assert.Equal(t, []uint64{4, 5, 6}, seqs(p.Events))
	p, _, _ = tl.read("u", 3, 10, limits{maxEvents: 3})
	assert.Nil(t, p.Gap)
	p, _, _ = tl.read("u", 0, 10, limits{maxEvents: 3})
	assert.Nil(t, p.Gap, "from the oldest retained is no gap")
	p, _, _ = tl.read("u", 1, 10, limits{cutoff: now.Add(4500 * time.Millisecond)})
	require.NotNil(t, p.Gap)
	assert.Equal(t, []uint64{5, 6}, seqs(p.Events))
}

func idsOf(evs []eventlog.Event) []eventlog.ID {
	var out []eventlog.ID
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func seqs(evs []eventlog.Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, seqOf(e.ID))
	}
	return out
}
