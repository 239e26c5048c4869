package eventlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// TestAppendAllocations bounds what one durable Append allocates, bbolt's
// transaction included (a bare bbolt commit of one Put is ~59), with the
// mover held off so only the append path counts. Each allocation is CPU
// a publish pays before it is acknowledged.
func TestAppendAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("fsyncs a few hundred times; counts differ under the race detector")
	}
	l := openLog(t, eventlog.Options{MoveDelay: time.Hour})
	ctx := context.Background()
	in := eventlog.Input{User: "u", Name: "notification", Data: payload}
	for range 50 { // grow the buckets past their first pages
		_, err := l.Append(ctx, in)
		require.NoError(t, err)
	}
	n := testing.AllocsPerRun(200, func() {
		if _, err := l.Append(ctx, in); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%.1f allocations per Append", n)
	require.LessOrEqual(t, n, 78.0, "92 before the tail's copies shared a block per commit and Append lost its slices; 86 before appends left the counts and the last id to the mover")
}
