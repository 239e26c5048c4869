package eventlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// Compact called directly reports a journal it could not file, counts it
// as a mover failure, and still applies retention to what is filed.
func TestCompactReportsAndCountsAFailedMove(t *testing.T) {
	clk := newClock(t0, 0)
	path := stuckJournal(t, clk)
	clk.Add(2 * time.Hour)
	// MoveDelay an hour: the background mover stays out of the way.
	l, err := eventlog.Open(path, eventlog.Options{Now: clk.Now, MaxAge: time.Hour, MoveDelay: time.Hour})
	require.NoError(t, err)
	defer l.Close()
	n, err := l.Compact(context.Background())
	require.Error(t, err, "the failed move is reported")
	assert.Equal(t, 3, n, "retention applied to the filed events regardless")
	assert.Equal(t, uint64(1), stats(t, l).MoveErrors)
}

// A pass whose context is already cancelled (shutdown) is no mover
// failure: nothing is counted.
func TestCompactCancelledIsNoMoveError(t *testing.T) {
	l := openLog(t, eventlog.Options{MoveDelay: time.Hour})
	appendN(t, l, "u", 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = l.Compact(ctx)
	assert.Zero(t, stats(t, l).MoveErrors)
}
