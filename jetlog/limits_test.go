package jetlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/jetlog"
	"github.com/sselog/sselog/jetlog/jetlogtest"
)

// TestGapByTheStreamsLimits: the last node to start sets the stream's
// limits. A node started earlier with none (a rolling change of
// --max-events) must still report what the new cap deleted: it decided
// by its own options, and the deletions went unreported.
func TestGapByTheStreamsLimits(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	a := jetlogtest.Open(t, srv.ClientURL(), jetlog.Options{Stream: "SHARED", TailSize: 1})
	_ = jetlogtest.Open(t, srv.ClientURL(), jetlog.Options{Stream: "SHARED", TailSize: 1, MaxEvents: 2})
	ctx := context.Background()
	var ids []eventlog.ID
	for i := range 6 {
		id, err := a.Append(ctx, eventlog.Input{User: "u", Data: fmt.Appendf(nil, `%d`, i)})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	p, err := a.ReadAfter("u", ids[0], 100)
	require.NoError(t, err)
	got := eventlogtest.IDs(p.Events)
	require.Equal(t, ids[4:], got, "the stream's cap of 2 deleted 1-3")
	require.NotNil(t, p.Gap, "events after the resume point were deleted: a gap")
	require.Equal(t, ids[3][:8], p.Gap.Through[:8], "the hole ends at the last deleted sequence")
}

// TestNoGapWhenOthersFillTheRun: a reader whose own last event the cap
// deleted, with every later event of its user held and only another
// user's events between, lost nothing: no gap, from memory or from the
// stream (TailSize 1). The stream path reported one.
func TestNoGapWhenOthersFillTheRun(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			l := jetlogtest.Open(t, srv.ClientURL(), jetlog.Options{Stream: "RUN" + mode.name, MaxEvents: 3, TailSize: mode.tail})
			ctx := context.Background()
			app := func(user string) eventlog.ID {
				id, err := l.Append(ctx, eventlog.Input{User: user, Data: []byte(`1`)})
				require.NoError(t, err)
				return id
			}
			var seen eventlog.ID
			for range 3 {
				seen = app("u")
			}
			app("v")
			app("v")
			var want []eventlog.ID
			for range 3 {
				want = append(want, app("u"))
			}
			p, err := l.ReadAfter("u", seen, 100)
			require.NoError(t, err)
			got := eventlogtest.IDs(p.Events)
			require.Equal(t, want, got, "every event after the resume point is held")
			require.Nil(t, p.Gap, "nothing after the resume point was deleted")
		})
	}
}

// TestGapWhenTheCapTookTheRun: the same cap deleting an event of the user
// after the resume point is a gap, from memory or from the stream.
func TestGapWhenTheCapTookTheRun(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			l := jetlogtest.Open(t, srv.ClientURL(), jetlog.Options{Stream: "TOOK" + mode.name, MaxEvents: 3, TailSize: mode.tail})
			ctx := context.Background()
			var ids []eventlog.ID
			for i := range 6 { // the cap deletes 0-2; the reader took 0 only
				id, err := l.Append(ctx, eventlog.Input{User: "u", Data: fmt.Appendf(nil, `%d`, i)})
				require.NoError(t, err)
				ids = append(ids, id)
				if i == 0 {
					_, err := l.Append(ctx, eventlog.Input{User: "v", Data: []byte(`1`)})
					require.NoError(t, err)
				}
			}
			p, err := l.ReadAfter("u", ids[0], 100)
			require.NoError(t, err)
			got := eventlogtest.IDs(p.Events)
			require.Equal(t, ids[3:], got)
			require.NotNil(t, p.Gap, "1 and 2 were deleted after the resume point")
		})
	}
}

// TestKeyedRetryAfterItsEventWasDeleted: a retry whose first event the
// cap deleted inside the key's window stores nothing (JetStream still
// knows the key) and says so with ErrKeyedEventGone, a refusal a client
// does not retry. It was a bare error (a 503), and a client retrying 503s
// until the window ended then stored the event a second time.
func TestKeyedRetryAfterItsEventWasDeleted(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	l := jetlogtest.Open(t, srv.ClientURL(), jetlog.Options{Stream: "KEYGONE", MaxEvents: 2})
	ctx := context.Background()
	one := eventlog.Input{User: "u", Data: []byte(`"first"`), IdempotencyKey: "k1"}
	_, err := l.Append(ctx, one)
	require.NoError(t, err)
	batch := []eventlog.Input{{User: "v", Data: []byte(`1`)}, {User: "v", Data: []byte(`2`)}}
	_, err = l.AppendKeyedBatch(ctx, "kb", batch)
	require.NoError(t, err)
	for _, user := range []string{"u", "u", "v", "v"} {
		_, err := l.Append(ctx, eventlog.Input{User: user, Data: []byte(`0`)})
		require.NoError(t, err)
	}
	newest := func() eventlog.ID { // Stats reads this node's own writes; Last may trail them
		st, err := l.Stats()
		require.NoError(t, err)
		return st.Newest
	}
	last := newest()

	_, err = l.Append(ctx, one)
	require.ErrorIs(t, err, eventlog.ErrKeyedEventGone)
	require.Contains(t, err.Error(), `"k1"`)
	_, err = l.AppendKeyedBatch(ctx, "kb", batch)
	require.ErrorIs(t, err, eventlog.ErrKeyedEventGone)
	require.Equal(t, last, newest(), "nothing stored again")
	for _, user := range []string{"u", "v"} {
		p, err := l.ReadAfter(user, last, 10)
		require.NoError(t, err)
		require.Empty(t, p.Events, "nothing stored again for %s", user)
	}
}

// TestNoAgeGapJustBelowTheFirstSequence: a resume point older than
// MaxAge whose sequence sits just below the stream's first (the cap took
// it, nothing after it) lost nothing: no gap. Reported, it is a hole of
// no events, its Through the resume point itself, told again at every
// resume from it.
func TestNoAgeGapJustBelowTheFirstSequence(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			opts := jetlog.Options{Stream: "BELOW" + mode.name, MaxAge: time.Hour, MaxEvents: 1}
			past := opts
			past.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) } // ids older than MaxAge
			w := jetlogtest.Open(t, srv.ClientURL(), past)
			ctx := context.Background()
			var ids []eventlog.ID
			for i := range 2 { // the cap deletes 0: the stream's first is 1
				id, err := w.Append(ctx, eventlog.Input{User: "u", Data: fmt.Appendf(nil, `%d`, i)})
				require.NoError(t, err)
				ids = append(ids, id)
			}
			opts.TailSize = mode.tail
			r := jetlogtest.Open(t, srv.ClientURL(), opts)
			require.Eventually(t, func() bool { return r.Last() == ids[1] }, 10*time.Second, 5*time.Millisecond)
			p, err := r.ReadAfter("u", ids[0], 100)
			require.NoError(t, err)
			require.False(t, p.Unknown)
			require.Equal(t, ids[1:], eventlogtest.IDs(p.Events))
			require.Nil(t, p.Gap, "every event after %s is held", ids[0])
		})
	}
}
