package jetlog_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
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
	var got []eventlog.ID
	for _, e := range p.Events {
		got = append(got, e.ID)
	}
	require.Equal(t, ids[4:], got, "the stream's cap of 2 deleted 1-3")
	require.NotNil(t, p.Gap, "events after the resume point were deleted: a gap")
	require.Equal(t, ids[3][:8], p.Gap.Through[:8], "the hole ends at the last deleted sequence")
}
