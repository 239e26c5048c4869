package storetest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
)

// A broadcast is stored once and read by every user, merged in order with
// the user's own events; a broadcast reader sees broadcasts only.
func testBroadcastsMerged(t *testing.T, open Opener) {
	s := open(t, Options{})
	a1 := appendOne(t, s, "a", `1`)
	b1 := appendOne(t, s, "", `"b1"`)
	c1 := appendOne(t, s, "c", `2`)
	b2 := appendOne(t, s, "", `"b2"`)
	a2 := appendOne(t, s, "a", `3`)
	for _, tc := range []struct {
		user string
		want []eventlog.ID
	}{
		{"a", []eventlog.ID{a1, b1, b2, a2}},
		{"c", []eventlog.ID{b1, c1, b2}},
		{"nobody", []eventlog.ID{b1, b2}},
		{"", []eventlog.ID{b1, b2}},
	} {
		got, gap := ReadAll(t, s, tc.user, eventlog.ZeroID, 2)
		assert.Nil(t, gap)
		assert.Equal(t, tc.want, IDs(got), "user %q", tc.user)
		for i, after := range tc.want {
			got, _ := ReadAll(t, s, tc.user, after, 1)
			assert.Equal(t, tc.want[i+1:], IDs(got), "user %q after %d", tc.user, i)
		}
	}
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, uint64(5), st.Events, "a broadcast is stored once")
	assert.Equal(t, uint64(2), st.Broadcasts)
	assert.Equal(t, 2, st.Users)
}

// limit <= 0 means DefaultLimit; a page never holds more than asked.
func testReadAfterLimit(t *testing.T, open Opener) {
	s := open(t, Options{})
	ids := appendN(t, s, "u", 30)
	for _, tc := range []struct{ limit, want int }{{0, 30}, {-5, 30}, {1, 1}, {7, 7}} {
		p, err := s.ReadAfter("u", eventlog.ZeroID, tc.limit)
		require.NoError(t, err)
		assert.Equal(t, ids[:tc.want], IDs(p.Events), "limit %d", tc.limit)
	}
	waitLast(t, s, ids[len(ids)-1])
	p, err := s.ReadAfter("u", ids[len(ids)-1], 10)
	require.NoError(t, err)
	assert.Empty(t, p.Events)
	assert.Equal(t, ids[len(ids)-1], p.Last)
}

// A resume point above everything issued is visible as such (the stream
// reports unknown-last-event-id); the newest real id is not.
func testUnknownResumePoint(t *testing.T, open Opener) {
	s := open(t, Options{})
	ids := appendN(t, s, "u", 3)
	waitLast(t, s, ids[2])
	past := ids[2] // its successor: same place, never issued
	for i := len(past) - 1; i >= 0; i-- {
		// With carry: a last byte of 0xff wrapped to 0 on its own, and
		// the id then sorted below the ones issued (1 run in 256 where
		// the three ids shared a millisecond).
		if past[i]++; past[i] != 0 {
			break
		}
	}
	var top eventlog.ID
	for i := range top {
		top[i] = 0xff
	}
	for _, after := range []eventlog.ID{past, top} {
		p, err := s.ReadAfter("u", after, 10)
		require.NoError(t, err)
		assert.Empty(t, p.Events)
		assert.True(t, p.Unknown, "%s was never issued", after)
		assert.Positive(t, after.Compare(p.Last), "%s must sort above Last %s", after, p.Last)
	}
	p, err := s.ReadAfter("u", ids[1], 10)
	require.NoError(t, err)
	assert.False(t, p.Unknown)
	assert.Equal(t, ids[2:], IDs(p.Events))
	assert.LessOrEqual(t, ids[2].Compare(p.Last), 0)
	// Any id the store issued is a resume point, another user's too;
	// from the oldest retained is never unknown.
	v := appendOne(t, s, "v", `1`)
	appendOne(t, s, "u", `2`)
	for _, after := range []eventlog.ID{eventlog.ZeroID, ids[0], ids[2], v} {
		p, err := s.ReadAfter("u", after, 10)
		require.NoError(t, err)
		assert.False(t, p.Unknown, "after %s", after)
		assert.NotEmpty(t, p.Events, "after %s", after)
	}
}

// A page is bounded in bytes as well as in count: it stops once it holds
// PageBytes of data (at least one event) and says Truncated; reading on
// from its last event gets the rest.
func testPageBytes(t *testing.T, open Opener) {
	const pageBytes = 2048
	s := open(t, Options{PageBytes: pageBytes})
	big := `"` + strings.Repeat("x", 1000) + `"`
	var ids []eventlog.ID
	for range 5 {
		ids = append(ids, appendOne(t, s, "u", big))
	}
	waitLast(t, s, ids[4])
	p, err := s.ReadAfter("u", eventlog.ZeroID, 100)
	require.NoError(t, err)
	assert.True(t, p.Truncated)
	assert.Equal(t, ids[:3], IDs(p.Events), "stops once a page holds %d bytes", pageBytes)
	evs, _ := ReadAll(t, s, "u", eventlog.ZeroID, 100)
	assert.Equal(t, ids, IDs(evs))
	p, err = s.ReadAfter("u", ids[3], 100)
	require.NoError(t, err)
	assert.False(t, p.Truncated)
	assert.Equal(t, ids[4:], IDs(p.Events))

	// Two events of exactly half the bound fill a page.
	half := `"` + strings.Repeat("y", pageBytes/2-2) + `"`
	var more []eventlog.ID
	for range 3 {
		more = append(more, appendOne(t, s, "v", half))
	}
	waitLast(t, s, more[2])
	p, err = s.ReadAfter("v", ids[4], 100)
	require.NoError(t, err)
	assert.True(t, p.Truncated)
	assert.Equal(t, more[:2], IDs(p.Events), "a page of exactly %d bytes is full", pageBytes)
}

// Counts are current without a walk (a replicated store may refresh them
// on a short period: the suite waits, bounded), and a store at rest is
// not stalled.
func testCounts(t *testing.T, open Opener) {
	s := open(t, Options{})
	ctx := context.Background()
	appendN(t, s, "u", 3)
	appendOne(t, s, "v", `1`)
	_, err := s.AppendBatch(ctx, []eventlog.Input{{Data: []byte(`1`)}, {User: "w", Data: []byte(`2`)}})
	require.NoError(t, err)
	testkit.WaitFor(t, wait, "Counts to reach 6 events", func() bool {
		c := s.Counts()
		return c.Events == 6 && c.Broadcasts == 1 && c.Users == 3
	})
	assert.Less(t, s.Stalled(), time.Second)
}

// A batch for several users commits in input order: ids increase along
// it, and every user reads its share.
func testBatchInInputOrder(t *testing.T, open Opener) {
	s := open(t, Options{})
	before := appendOne(t, s, "x", `0`)
	batch := []eventlog.Input{
		{User: "x", Name: "a", Data: []byte(`1`)},
		{User: "", Name: "b", Data: []byte(`2`)},
		{User: "y", Data: []byte(`3`)},
		{User: "x", Data: []byte(`{"k":[1,2]}`)},
	}
	ids, err := s.AppendBatch(context.Background(), batch)
	require.NoError(t, err)
	require.Len(t, ids, len(batch))
	prev := before
	for _, id := range ids {
		require.Positive(t, id.Compare(prev))
		prev = id
	}
	after := appendOne(t, s, "x", `5`)
	require.Positive(t, after.Compare(ids[3]))
	got, _ := ReadAll(t, s, "x", eventlog.ZeroID, 10)
	assert.Equal(t, []eventlog.ID{before, ids[0], ids[1], ids[3], after}, IDs(got))
	assert.Equal(t, "a", got[1].Name)
	assert.JSONEq(t, `{"k":[1,2]}`, string(got[3].Data))
	got, _ = ReadAll(t, s, "y", eventlog.ZeroID, 10)
	assert.Equal(t, []eventlog.ID{ids[1], ids[2]}, IDs(got))
}

// A batch holding one bad event stores nothing, and says which.
func testBatchAllOrNothing(t *testing.T, open Opener) {
	s := open(t, Options{})
	first := appendOne(t, s, "u", `0`)
	for _, bad := range []eventlog.Input{
		{User: "u", Data: []byte(`{not json`)},
		{User: "u", Name: "a\nb", Data: []byte(`1`)},
		{User: "u\r", Data: []byte(`1`)},
	} {
		_, err := s.AppendBatch(context.Background(), []eventlog.Input{{User: "u", Data: []byte(`1`)}, {User: "v", Data: []byte(`2`)}, bad})
		require.ErrorIs(t, err, eventlog.ErrInvalidEvent)
		_, err = s.Append(context.Background(), bad)
		require.ErrorIs(t, err, eventlog.ErrInvalidEvent)
	}
	_, err := s.AppendBatch(context.Background(), nil)
	require.ErrorIs(t, err, eventlog.ErrInvalidEvent)
	got, _ := ReadAll(t, s, "u", eventlog.ZeroID, 10)
	assert.Equal(t, []eventlog.ID{first}, IDs(got))
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), st.Events)
}

// An Idempotency-Key names one request: a retry returns the first id and
// stores nothing; the same key with another target, name or data is
// ErrIdempotencyKeyReused (422) and stores nothing either.
func testIdempotentAppend(t *testing.T, open Opener) {
	s := open(t, Options{})
	ctx := context.Background()
	in := eventlog.Input{User: "u", Name: "n", Data: []byte(`1`), IdempotencyKey: "k1"}
	id, err := s.Append(ctx, in)
	require.NoError(t, err)
	for range 3 {
		again, err := s.Append(ctx, in)
		require.NoError(t, err)
		assert.Equal(t, id, again)
	}
	for _, other := range []eventlog.Input{
		{User: "v", Name: "n", Data: []byte(`1`), IdempotencyKey: "k1"}, // another user
		{Name: "n", Data: []byte(`1`), IdempotencyKey: "k1"},            // broadcast
		{User: "u", Name: "m", Data: []byte(`1`), IdempotencyKey: "k1"}, // another name
		{User: "u", Name: "n", Data: []byte(`2`), IdempotencyKey: "k1"}, // other data
	} {
		_, err := s.Append(ctx, other)
		require.ErrorIs(t, err, eventlog.ErrIdempotencyKeyReused, "%+v", other)
	}
	other, err := s.Append(ctx, eventlog.Input{User: "v", Data: []byte(`1`), IdempotencyKey: "k2"})
	require.NoError(t, err)
	assert.NotEqual(t, id, other)
	got, _ := ReadAll(t, s, "u", eventlog.ZeroID, 10)
	assert.Equal(t, []eventlog.ID{id}, IDs(got))
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, uint64(2), st.Events)
}

// Retries of one key racing each other store once and all get its id.
func testIdempotentConcurrentRetries(t *testing.T, open Opener) {
	s := open(t, Options{})
	in := eventlog.Input{User: "u", Data: []byte(`1`), IdempotencyKey: "race"}
	const n = 8
	ids := make([]eventlog.ID, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i], errs[i] = s.Append(context.Background(), in) })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, ids[0], ids[i])
	}
	got, _ := ReadAll(t, s, "u", eventlog.ZeroID, 10)
	assert.Equal(t, []eventlog.ID{ids[0]}, IDs(got))
}

// A keyed batch: a retry returns the first batch's ids and stores
// nothing; the key with another batch (other data, or one event fewer)
// is ErrIdempotencyKeyReused.
func testIdempotentBatch(t *testing.T, open Opener) {
	s := open(t, Options{})
	ctx := context.Background()
	batch := []eventlog.Input{
		{User: "u", Data: []byte(`1`)},
		{User: "", Data: []byte(`2`)},
		{User: "v", Data: []byte(`3`)},
	}
	ids, err := s.AppendKeyedBatch(ctx, "b", batch)
	require.NoError(t, err)
	appendOne(t, s, "u", `4`)
	again, err := s.AppendKeyedBatch(ctx, "b", batch)
	require.NoError(t, err)
	assert.Equal(t, ids, again)
	changed := slices.Clone(batch)
	changed[2].Data = []byte(`33`)
	_, err = s.AppendKeyedBatch(ctx, "b", changed)
	require.ErrorIs(t, err, eventlog.ErrIdempotencyKeyReused)
	_, err = s.AppendKeyedBatch(ctx, "b", batch[:2])
	require.ErrorIs(t, err, eventlog.ErrIdempotencyKeyReused)
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, uint64(4), st.Events)
}

// Batch keys live in their own key space: a single publish and a batch
// under the same key are two requests, both stored; a batch of one is
// not a single publish.
func testKeyedBatchKeySpace(t *testing.T, open Opener) {
	s := open(t, Options{})
	ctx := context.Background()
	in := eventlog.Input{User: "u", Data: []byte(`1`)}
	keyed := in
	keyed.IdempotencyKey = "same"
	one, err := s.Append(ctx, keyed)
	require.NoError(t, err)
	batch, err := s.AppendKeyedBatch(ctx, "same", []eventlog.Input{in})
	require.NoError(t, err)
	require.Len(t, batch, 1)
	assert.NotEqual(t, one, batch[0])
	again, err := s.AppendKeyedBatch(ctx, "same", []eventlog.Input{in})
	require.NoError(t, err)
	assert.Equal(t, batch, again)
	oneAgain, err := s.Append(ctx, keyed)
	require.NoError(t, err)
	assert.Equal(t, one, oneAgain)
	got, _ := ReadAll(t, s, "u", eventlog.ZeroID, 10)
	assert.Equal(t, []eventlog.ID{one, batch[0]}, IDs(got))
}

// A count cap applies per user: a noisy user keeps its newest MaxEvents,
// a reader resuming before what was deleted is told (with the oldest id
// held), and a quiet user loses nothing.
func testGapAfterCountCap(t *testing.T, open Opener) {
	const keep = 5
	s := open(t, Options{MaxEvents: keep})
	quiet := appendN(t, s, "quiet", 3)
	noisy := appendN(t, s, "noisy", 20)
	testkit.WaitFor(t, wait, "retention to apply the cap", func() bool {
		st, err := s.Stats()
		require.NoError(t, err)
		return st.Events == 3+keep
	})
	evs, gap := ReadAll(t, s, "quiet", quiet[0], 10)
	assert.Nil(t, gap, "the quiet user lost nothing")
	assert.Equal(t, quiet[1:], IDs(evs))

	kept := noisy[len(noisy)-keep:]
	for _, tc := range []struct {
		after   eventlog.ID
		wantGap bool
	}{
		{noisy[0], true},
		{noisy[len(noisy)-keep-2], true},
		{noisy[len(noisy)-keep-1], false},
		{kept[0], false},
	} {
		evs, gap := ReadAll(t, s, "noisy", tc.after, 2)
		if tc.wantGap {
			require.NotNil(t, gap, "after %s", tc.after)
			assert.Equal(t, kept[0], gap.Oldest)
			// One hole, one mark: read again, the same hole ends at the
			// same id; that id sorts below what is kept, and resuming
			// from it is no gap (and no unknown id).
			p, err := s.ReadAfter("noisy", tc.after, 2)
			require.NoError(t, err)
			require.NotNil(t, p.Gap)
			assert.Equal(t, gap.Through, p.Gap.Through)
			assert.False(t, p.Unknown, "a deleted id was issued: it is no unknown id")
			assert.Positive(t, gap.Through.Compare(tc.after))
			assert.Negative(t, gap.Through.Compare(kept[0]))
			p, err = s.ReadAfter("noisy", gap.Through, 10)
			require.NoError(t, err)
			assert.Nil(t, p.Gap, "resuming from the hole's end")
			assert.False(t, p.Unknown, "resuming from the hole's end")
			assert.Equal(t, kept, IDs(p.Events))
		} else {
			assert.Nil(t, gap, "after %s", tc.after)
		}
		var want []eventlog.ID
		for _, id := range kept {
			if id.Compare(tc.after) > 0 {
				want = append(want, id)
			}
		}
		assert.Equal(t, want, IDs(evs), "after %s", tc.after)
	}
	evs, gap = ReadAll(t, s, "noisy", eventlog.ZeroID, 10)
	assert.Nil(t, gap, "from the oldest retained is no gap")
	assert.Equal(t, kept, IDs(evs))
}
