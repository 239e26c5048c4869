package eventlog

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// msID is the id at millisecond ms with no random bits; msID(ms) sorts
// after every id of an earlier millisecond.
func msID(ms uint64) ID {
	var id ID
	_ = id.SetTime(ms)
	return id
}

// betweenID sorts after msID(ms) and before msID(ms+1): never issued.
func betweenID(ms uint64) ID {
	id := msID(ms)
	id[15] = 0x5a
	return id
}

func tailEvent(ms uint64, user, name, data string) Event {
	return Event{ID: msID(ms), User: user, Name: name, Data: []byte(data)}
}

// The tail answers every resume point from its floor up to its newest
// event, inclusive at both ends, with the reader's events and broadcasts
// in order, and hands everything else to the file.
func TestTailReadAnswersFromFloorToNewest(t *testing.T) {
	tl := newTail(100, -1, -1, msID(10))
	tl.add([]Event{
		tailEvent(11, "u", "", "1"), tailEvent(12, "v", "", "2"), tailEvent(13, "", "", "3"),
		tailEvent(14, "u", "", "4"), tailEvent(15, "u", "", "5"),
	})
	ms := func(ids ...uint64) []ID {
		out := []ID{}
		for _, m := range ids {
			out = append(out, msID(m))
		}
		return out
	}
	cases := []struct {
		name  string
		user  string
		after ID
		limit int
		ok    bool
		want  []ID
	}{
		{"at the floor", "u", msID(10), 10, true, ms(11, 13, 14, 15)},
		{"below the floor", "u", msID(9), 10, false, nil},
		{"at a held id", "u", msID(11), 10, true, ms(13, 14, 15)},
		{"between held ids", "u", betweenID(11), 10, true, ms(13, 14, 15)},
		{"at the newest", "u", msID(15), 10, true, ms()},
		{"above the newest", "u", betweenID(15), 10, false, nil},
		{"limit", "u", msID(10), 2, true, ms(11, 13)},
		{"another user", "v", msID(10), 10, true, ms(12, 13)},
		{"broadcasts only", "", msID(10), 10, true, ms(13)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, ok := tl.read(c.user, c.after, c.limit)
			require.Equal(t, c.ok, ok)
			if !ok {
				return
			}
			assert.Equal(t, c.want, pageIDs(p.Events))
			assert.Equal(t, msID(15), p.Last)
			assert.False(t, p.Truncated)
		})
	}

	t.Run("empty tail at its floor", func(t *testing.T) {
		p, ok := newTail(100, -1, -1, msID(10)).read("u", msID(10), 10)
		require.True(t, ok)
		assert.Empty(t, p.Events)
		assert.Equal(t, msID(10), p.Last)
	})
}

// A page stops once the names and data it holds reach PageBytes (at least
// one event), and says so.
func TestTailReadPageBytesCountsNamesAndData(t *testing.T) {
	tl := newTail(100, -1, 10, ZeroID)
	for ms := range uint64(4) {
		tl.add([]Event{tailEvent(ms+1, "u", "nn", `"a"`)}) // 5 bytes each
	}
	p, ok := tl.read("u", ZeroID, 10)
	require.True(t, ok)
	assert.Equal(t, []ID{msID(1), msID(2)}, pageIDs(p.Events), "10 bytes: two events")
	assert.True(t, p.Truncated)
}

// heldBytes is what the tail's events cost, summed.
func heldBytes(tl *tail) int {
	n := 0
	for i := range tl.events {
		n += eventBytes(&tl.events[i])
	}
	return n
}

// With no byte bound, the tail keeps up to twice its size and then evicts
// down to its size, its floor the newest event evicted.
func TestTailEvictsDownToSizeAtTwiceSize(t *testing.T) {
	tl := newTail(4, -1, -1, ZeroID)
	for ms := range uint64(7) {
		tl.add([]Event{tailEvent(ms+1, "u", "", "1")})
	}
	require.Len(t, tl.events, 7, "no eviction below twice the size")
	assert.Equal(t, ZeroID, tl.floor)
	tl.add([]Event{tailEvent(8, "u", "", "1")})
	assert.Equal(t, []ID{msID(5), msID(6), msID(7), msID(8)}, pageIDs(tl.events))
	assert.Equal(t, msID(4), tl.floor)
	assert.Equal(t, heldBytes(tl), tl.bytes)
}

// Past its byte budget the tail evicts down to half of it, whatever its
// size, and an event larger than the whole budget is not kept at all.
func TestTailEvictsDownToHalfTheBudget(t *testing.T) {
	// user 4 + name 4 + data 4 + 96 overhead: 108 bytes an event.
	ev := func(ms uint64) Event { return tailEvent(ms, "user", "name", `"xx"`) }
	tl := newTail(100, 1080, -1, ZeroID)
	for ms := range uint64(10) {
		tl.add([]Event{ev(ms + 1)})
	}
	require.Len(t, tl.events, 10, "exactly the budget is held")
	require.Equal(t, 1080, tl.bytes)
	tl.add([]Event{ev(11)})
	assert.Equal(t, []ID{msID(7), msID(8), msID(9), msID(10), msID(11)}, pageIDs(tl.events))
	assert.Equal(t, 540, tl.bytes, "down to half the budget")
	assert.Equal(t, msID(6), tl.floor)

	huge := newTail(100, 200, -1, ZeroID)
	huge.add([]Event{tailEvent(1, "u", "", string(make([]byte, 300)))})
	assert.Empty(t, huge.events)
	assert.Zero(t, huge.bytes)
	assert.Equal(t, msID(1), huge.floor)
}

// raise drops the events at or below the new floor and their bytes.
func TestTailRaiseDropsEventsAndBytes(t *testing.T) {
	tl := newTail(100, -1, -1, ZeroID)
	for ms := range uint64(5) {
		tl.add([]Event{tailEvent(ms+1, "u", "", "1")})
	}
	tl.raise(msID(2))
	assert.Equal(t, []ID{msID(3), msID(4), msID(5)}, pageIDs(tl.events))
	assert.Equal(t, heldBytes(tl), tl.bytes)
	assert.Equal(t, msID(2), tl.floor)
	tl.raise(betweenID(3)) // not a held id
	assert.Equal(t, []ID{msID(4), msID(5)}, pageIDs(tl.events))
	assert.Equal(t, heldBytes(tl), tl.bytes)
	tl.raise(msID(1)) // below the floor: nothing
	assert.Equal(t, betweenID(3), tl.floor)
	assert.Len(t, tl.events, 2)
}

// The tail hands out event times exactly as the file does, whatever zone
// the clock reads in: one event never has two times.
func TestTailEventTimeMatchesFile(t *testing.T) {
	zone := time.FixedZone("UTC+5", 5*3600)
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, zone)
	l, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{Now: func() time.Time { return now }})
	require.NoError(t, err)
	defer l.Close()
	_, err = l.Append(context.Background(), Input{User: "u", Data: []byte(`1`)})
	require.NoError(t, err)
	got, err := l.ReadAfter("u", ZeroID, 10)
	require.NoError(t, err)
	want, err := l.readFile("u", ZeroID, 10)
	require.NoError(t, err)
	require.Len(t, got.Events, 1)
	require.Len(t, want.Events, 1)
	assert.Equal(t, want.Events[0].Time, got.Events[0].Time)
}

// A journal entry whose user length cannot be read, or runs past the
// entry, is damage; a well-formed one splits into user and record.
func TestSplitJournal(t *testing.T) {
	good := append(appendJournalHeader(nil, "alice"), "rec"...)
	user, rec, err := splitJournal(good)
	require.NoError(t, err)
	assert.Equal(t, "alice", string(user))
	assert.Equal(t, "rec", string(rec))
	for name, v := range map[string][]byte{
		"empty":             {},
		"varint overflow":   {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"user past the end": {0x7f, 'x'},
	} {
		_, _, err := splitJournal(v)
		assert.ErrorIs(t, err, errCorrupt, name)
	}
}
