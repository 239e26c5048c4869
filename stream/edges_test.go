package stream

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

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
				c := ts.connect(t, "u", lost.String(), "")
				expectConnected(t, c, "u", lost.String())
				expectGap(t, c, gapData{Reason: gapUnknown, LastEventID: lost.String(), OldestID: first.String()})
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
	expectGap(t, c, gapData{Reason: gapRetention, LastEventID: resume.String(), OldestID: want[0].String()})
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
	expectGap(t, c, gapData{Reason: gapRetention, LastEventID: ids[2].String(), OldestID: ""})
	live := ts.append(t, "u", "", `"live"`)
	expectEvents(t, c, live)
	assert.Equal(t, uint64(1), ts.hub.Stats().Gaps)
}
