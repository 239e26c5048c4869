package eventlog_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/storetest"
)

// The conformance suite's check of invariants 1-3, at a larger scale
// than the suite runs it, with the in-memory tail on and off.
func TestOrderConcurrentAppenders(t *testing.T) {
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			storetest.ConcurrentAppends(t, openLog(t, eventlog.Options{TailSize: mode.size}), 64, 40, 100)
		})
	}
}

// limit <= 0 means DefaultLimit; a larger limit is capped at MaxLimit.
func TestReadAfterLimits(t *testing.T) {
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			l := openLog(t, eventlog.Options{TailSize: mode.size})
			batch := make([]eventlog.Input, eventlog.MaxLimit+50)
			for i := range batch {
				batch[i] = eventlog.Input{User: "u", Data: jsonN(`%d`, i)}
			}
			ids, err := l.AppendBatch(context.Background(), batch)
			require.NoError(t, err)
			for _, tc := range []struct{ limit, want int }{
				{0, eventlog.DefaultLimit},
				{-5, eventlog.DefaultLimit},
				{1, 1},
				{eventlog.MaxLimit + 1, eventlog.MaxLimit},
			} {
				p, err := l.ReadAfter("u", eventlog.ZeroID, tc.limit)
				require.NoError(t, err)
				require.Len(t, p.Events, tc.want, "limit %d", tc.limit)
				assert.Equal(t, ids[:tc.want], idsOf(p.Events))
				assert.Equal(t, ids[len(ids)-1], p.Last)
			}
		})
	}
}
