package eventlog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// maxKeyLen is the longest idempotency key accepted (unexported in eventlog).
const maxKeyLen = 1024

// The limits of Input are inclusive: the longest user, name and key are
// stored; one byte more, a control character or DEL is refused. Space
// and UTF-8 are not control characters.
func TestAppendValidationBoundaries(t *testing.T) {
	cases := []struct {
		name string
		in   eventlog.Input
		ok   bool
	}{
		{"longest user", eventlog.Input{User: strings.Repeat("u", eventlog.MaxUserLen), Data: []byte(`1`)}, true},
		{"longest name", eventlog.Input{User: "u", Name: strings.Repeat("n", eventlog.MaxNameLen), Data: []byte(`1`)}, true},
		{"longest key", eventlog.Input{User: "u", Data: []byte(`1`), IdempotencyKey: strings.Repeat("k", maxKeyLen)}, true},
		{"key one byte longer", eventlog.Input{User: "u", Data: []byte(`1`), IdempotencyKey: strings.Repeat("k", maxKeyLen+1)}, false},
		{"space and UTF-8 in name and user", eventlog.Input{User: "a b é", Name: "x y ü", Data: []byte(`1`)}, true},
		{"DEL in name", eventlog.Input{User: "u", Name: "a\x7fb", Data: []byte(`1`)}, false},
		{"DEL in user", eventlog.Input{User: "a\x7fb", Data: []byte(`1`)}, false},
		{"unit separator in name", eventlog.Input{User: "u", Name: "a\x1fb", Data: []byte(`1`)}, false},
	}
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := l.Append(ctx, c.in)
			if c.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, eventlog.ErrInvalidEvent)
			}
		})
	}
	t.Run("batch keys", func(t *testing.T) {
		in := []eventlog.Input{{User: "u", Data: []byte(`1`)}}
		_, err := l.AppendKeyedBatch(ctx, strings.Repeat("b", maxKeyLen), in)
		require.NoError(t, err)
		_, err = l.AppendKeyedBatch(ctx, strings.Repeat("b", maxKeyLen+1), in)
		require.ErrorIs(t, err, eventlog.ErrInvalidEvent)
		_, err = l.AppendKeyedBatch(ctx, "k", nil)
		require.ErrorIs(t, err, eventlog.ErrInvalidEvent, "an empty batch")
		_, err = l.AppendBatch(ctx, []eventlog.Input{{User: "u", Data: []byte(`1`), IdempotencyKey: "own"}})
		require.NoError(t, err, "an unkeyed batch's events may carry keys")
	})
}

// An append whose context ended before its commit began is not committed,
// and its caller gets the context's error, never an id.
func TestAppendWithEndedContextStoresNothing(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`1`)})
	require.ErrorIs(t, err, context.Canceled)
	_, err = l.AppendBatch(ctx, []eventlog.Input{{User: "u", Data: []byte(`2`)}, {Data: []byte(`3`)}})
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, stats(t, l).Events)
}

// The smallest tail still holds every committed event above its floor:
// a reader at the floor gets the events, not an empty page.
func TestTailOfOneServesEveryEvent(t *testing.T) {
	l := openLog(t, eventlog.Options{TailSize: 1})
	ids := appendN(t, l, "u", 3)
	for i, after := range append([]eventlog.ID{eventlog.ZeroID}, ids...) {
		p, err := l.ReadAfter("u", after, 10)
		require.NoError(t, err)
		require.Equal(t, ids[i:], idsOf(p.Events), "after %s", after)
	}
}

// An idempotent repeat stores nothing: it is counted as a repeat, not as
// a stored event or a commit.
func TestRepeatIsNoCommit(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	in := eventlog.Input{User: "u", Data: []byte(`1`), IdempotencyKey: "k"}
	first, err := l.Append(ctx, in)
	require.NoError(t, err)
	again, err := l.Append(ctx, in)
	require.NoError(t, err)
	require.Equal(t, first, again)
	batch := []eventlog.Input{{User: "u", Data: []byte(`2`)}, {Data: []byte(`3`)}}
	_, err = l.AppendKeyedBatch(ctx, "b", batch)
	require.NoError(t, err)
	_, err = l.AppendKeyedBatch(ctx, "b", batch)
	require.NoError(t, err)
	s := stats(t, l)
	require.Equal(t, uint64(2), s.Commits)
	require.Equal(t, uint64(3), s.Repeats, "one single repeat, one batch of two")
	require.Equal(t, uint64(2), s.StoredUser)
	require.Equal(t, uint64(1), s.StoredBroadcast)
}
