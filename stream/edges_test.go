package stream

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
)

// restored returns a log opened on a snapshot of src taken now.
func restored(t *testing.T, src *eventlog.Log) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "restored.db")
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = src.Snapshot(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return path
}

// After a restore, an id issued after the backup was taken is unknown to
// the restored log, however many events it stores after: ids are time
// ordered, so new ids sort above the lost one.
func TestUnknownResumePointAfterRestore(t *testing.T) {
	for _, tm := range []struct {
		name string
		size int
	}{{"tail", 0}, {"file", -1}} {
		t.Run(tm.name, func(t *testing.T) {
			old := openLog(t, eventlog.Options{TailSize: tm.size})
			ctx := context.Background()
			first, err := old.Append(ctx, eventlog.Input{User: "u", Data: []byte(`1`)})
			require.NoError(t, err)
			path := restored(t, old)
			lost, err := old.Append(ctx, eventlog.Input{User: "u", Data: []byte(`2`)})
			require.NoError(t, err)

			ts := newServerOn(t, eventlogtest.OpenAt(t, path, eventlog.Options{TailSize: tm.size}), Options{})
			for n := range 3 { // one event, then more than a page
				for range []int{1, pageSize + 1, 1}[n] {
					ts.append(t, "u", "", `"after restore"`)
				}
				newest := ts.log.Last().String()
				c := ts.connect(t, "u", lost.String(), "")
				expectConnected(t, c, "u", lost.String())
				expectGap(t, c, gapData{Reason: gapUnknown, LastEventID: lost.String(), OldestID: first.String(), ResumeFrom: newest})
				require.True(t, c.Quiet(50*time.Millisecond), "live tail only")
				live := ts.append(t, "u", "", `"live"`)
				expectEvents(t, c, live)
				c.Close()
			}
		})
	}
}

// Any id this log issued is a place in the one global order to resume
// from, another user's too (an app may hand a browser the id a publish
// returned): the events after it, no gap.
func TestResumeFromAnotherUsersID(t *testing.T) {
	ts := newServer(t, eventlog.Options{}, Options{})
	ts.append(t, "u", "", `1`)
	theirs := ts.append(t, "v", "", `"v's"`)
	mine := ts.append(t, "u", "", `2`)
	c := ts.connect(t, "u", theirs.String(), "")
	expectConnected(t, c, "u", theirs.String())
	expectEvents(t, c, mine)
	assert.Zero(t, ts.hub.Stats().Gaps)
}

// One retention hole gives one gap, naming the first retained id after
// the resume point, even when more than a page of broadcasts lies below
// the user's retention mark.
func TestOneHoleOneGap(t *testing.T) {
	ts := newServer(t, eventlog.Options{MaxEvents: 5}, Options{})
	resume := ts.append(t, "", "", `"b0"`)
	var want []eventlog.ID
	for i := range 3 * pageSize {
		if i%50 == 0 {
			ts.append(t, "u", "", `"deleted"`)
		}
		want = append(want, ts.append(t, "", "", `"b"`))
	}
	for range 5 {
		want = append(want, ts.append(t, "u", "", `"kept"`))
	}
	_, err := ts.log.Compact(context.Background())
	require.NoError(t, err)

	c := ts.connect(t, "u", resume.String(), "")
	expectConnected(t, c, "u", resume.String())
	expectGap(t, c, gapData{Reason: gapRetention, LastEventID: resume.String(), OldestID: want[0].String(), ResumeFrom: resume.String()}) // broadcasts below the hole's end follow
	expectEvents(t, c, want...)
	live := ts.append(t, "u", "", `"live"`)
	expectEvents(t, c, live)
	assert.Equal(t, uint64(1), ts.hub.Stats().Gaps)
}

// When everything after the resume point was deleted, the one gap names
// no id, and the next event comes without a second gap.
func TestOneGapWhenAllDeleted(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	clk := func() time.Time { return time.Unix(0, now.Load()) }
	ts := newServer(t, eventlog.Options{MaxAge: time.Hour, Now: clk}, Options{})
	var ids []eventlog.ID
	for i := range 5 {
		ids = append(ids, ts.append(t, "u", "", fmt.Sprint(i)))
	}
	now.Add(int64(2 * time.Hour))
	n, err := ts.log.Compact(context.Background())
	require.NoError(t, err)
	require.Equal(t, 5, n)

	c := ts.connect(t, "u", ids[2].String(), "")
	expectConnected(t, c, "u", ids[2].String())
	expectGap(t, c, gapData{Reason: gapRetention, LastEventID: ids[2].String(), OldestID: "", ResumeFrom: ids[4].String()})
	live := ts.append(t, "u", "", `"live"`)
	expectEvents(t, c, live)
	assert.Equal(t, uint64(1), ts.hub.Stats().Gaps)
}

// TestResumeFromWhereTheStreamStood: a client that took no event of its
// own resumes from the resumeFrom the connected or gap event gave it, and
// gets exactly what was published while it was away, with no gap. Before
// resumeFrom, a client that opened the live tail (no resume point, or one
// that was not an id) and dropped before its first event had no id to
// send: it came back to the live tail and lost what came in between.
func TestResumeFromWhereTheStreamStood(t *testing.T) {
	future := ulid.MustNew(ulid.Timestamp(time.Now().Add(24*time.Hour)), ulid.DefaultEntropy()).String()
	for _, tc := range []struct {
		name, resume string // "old": the first event, deleted
		gap          bool
	}{
		{"no resume point", "", false},
		{"not an id", "garbage", true},
		{"never issued", future, true},
		{"past retention", "old", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newServer(t, eventlog.Options{MaxEvents: 3}, Options{})
			old := ts.append(t, "u", "", `"old"`)
			var kept []eventlog.ID
			for range 4 { // the first of these and old are deleted: a hole after old
				kept = append(kept, ts.append(t, "u", "", `"kept"`))
			}
			kept = kept[1:]
			_, err := ts.log.Compact(context.Background())
			require.NoError(t, err)
			if tc.resume == "old" {
				tc.resume = old.String()
			}
			c := ts.connect(t, "u", tc.resume, "")
			from := connectedFrom(t, c)
			if tc.gap {
				m, ok := c.Recv(wait)
				require.True(t, ok, "gap: %v", c.Err())
				require.Equal(t, "gap", m.Event)
				from = decode[gapData](t, m.Data).ResumeFrom
			}
			c.Close() // dropped before any event of its own
			away := []eventlog.ID{ts.append(t, "u", "", `"while away"`), ts.append(t, "", "", `"broadcast while away"`)}
			if tc.resume == old.String() {
				away = append(kept, away...) // the replay it never took
			}

			again := ts.connect(t, "u", from, "")
			expectConnected(t, again, "u", from)
			expectEvents(t, again, away...)
			require.True(t, again.Quiet(50*time.Millisecond), "nothing more, and no gap")
			again.Close()
		})
	}
}

// TestReplayPastAPageOfBytes: a replay whose pages stop at the log's byte
// bound (fewer events than a page holds) goes on to the end with nothing
// published after it, from memory and from the file. A session that took
// such a page for the end of the replay would wait for a wake that never
// comes.
func TestReplayPastAPageOfBytes(t *testing.T) {
	for _, tm := range []struct {
		name string
		size int
	}{{"tail", 0}, {"file", -1}} {
		t.Run(tm.name, func(t *testing.T) {
			ts := newServer(t, eventlog.Options{PageBytes: 4 << 10, TailSize: tm.size}, Options{})
			var ids []eventlog.ID
			for i := range 20 { // ~20 KiB: five pages of bytes, not one of count
				ids = append(ids, ts.append(t, "u", "", fmt.Sprintf(`"%01000d"`, i)))
			}
			c := ts.connect(t, "u", eventlog.ZeroID.String(), "")
			expectConnected(t, c, "u", eventlog.ZeroID.String())
			expectEvents(t, c, ids...)
		})
	}
}

// commitAfterRead commits an event right after one armed read: in the
// window between a session's read and its wait.
type commitAfterRead struct {
	*eventlog.Log
	arm       atomic.Bool
	committed chan eventlog.ID
}

func (s *commitAfterRead) ReadAfter(user string, after eventlog.ID, limit int) (eventlog.Page, error) {
	p, err := s.Log.ReadAfter(user, after, limit)
	if s.arm.CompareAndSwap(true, false) {
		id, aerr := s.Log.Append(context.Background(), eventlog.Input{User: user, Data: []byte(`"in the window"`)})
		if aerr == nil {
			s.committed <- id
		}
	}
	return p, err
}

// TestCommitBetweenReadAndWait: a commit that lands after a session's
// read and before it waits still wakes it. A session that took its wake
// channels after the read would miss it and sit until the next publish.
func TestCommitBetweenReadAndWait(t *testing.T) {
	src := &commitAfterRead{committed: make(chan eventlog.ID, 1)}
	ts := newServer(t, eventlog.Options{}, Options{}, func(l *eventlog.Log) Source { src.Log = l; return src })
	c := ts.connect(t, "u", "", "")
	expectConnected(t, c, "u", "")
	require.True(t, c.Quiet(50*time.Millisecond), "at the live tail")

	src.arm.Store(true)
	first := ts.append(t, "u", "", `"wakes the session"`) // its read commits the next one
	var second eventlog.ID
	select {
	case second = <-src.committed:
	case <-time.After(wait):
		t.Fatal("the armed read never ran")
	}
	expectEvents(t, c, first, second)
}

// TestGapResumeFromKeepsEventsBelowTheMark: a gap's resumeFrom is where
// the stream stands: a client that takes the gap and drops before the
// next event resumes from it and misses nothing still held. When the
// broadcast bucket's cap deleted past some of the user's own events (which
// its own cap kept), the events after the gap lie below the hole's end;
// resumeFrom was the hole's end (Through), and a client resuming from it
// silently lost the user's events below it.
func TestGapResumeFromKeepsEventsBelowTheMark(t *testing.T) {
	ts := newServer(t, eventlog.Options{BroadcastMaxEvents: 2}, Options{})
	resume := ts.append(t, "", "", `"b0"`)
	mine := ts.append(t, "u", "", `"u1: kept, below the broadcast mark"`)
	for range 3 {
		ts.append(t, "", "", `"deleted broadcast"`)
	}
	want := []eventlog.ID{mine, ts.append(t, "u", "", `"u2"`), ts.append(t, "", "", `"b4"`), ts.append(t, "", "", `"b5"`)}
	_, err := ts.log.Compact(context.Background())
	require.NoError(t, err)

	c := ts.connect(t, "u", resume.String(), "")
	expectConnected(t, c, "u", resume.String())
	m, ok := c.Recv(wait)
	require.True(t, ok, "gap: %v", c.Err())
	require.Equal(t, "gap", m.Event)
	from := decode[gapData](t, m.Data).ResumeFrom
	expectEvents(t, c, want...)
	c.Close() // as if it had dropped right after the gap

	again := ts.connect(t, "u", from, "")
	connectedFrom(t, again)
	for {
		m, ok := again.Recv(wait)
		require.True(t, ok, "%v", again.Err())
		if m.Event == "gap" { // the same hole told again is honest; skipping events is not
			continue
		}
		require.Equal(t, want[0].String(), m.ID, "the first event after the gap's resumeFrom (%s)", from)
		break
	}
	expectEvents(t, again, want[1:]...)
	require.True(t, again.Quiet(50*time.Millisecond))
}
