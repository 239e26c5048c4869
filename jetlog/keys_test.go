package jetlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/jetlog"
	"github.com/sselog/sselog/jetlog/jetlogtest"
)

// TestRetriedBatchOnABusyStream: a keyed batch retried a moment after
// it was stored answers its ids within the request timeout, however
// many events the stream took in the duplicate window before it. The
// retry scanned every message of the window, from its start, for the
// key (a direct get per 1,000 messages), and timed out on a busy stream
// (under the race detector here). Counted in direct gets, which a
// subscriber of the API subject sees, so the test does not hang on the
// machine's speed.
func TestRetriedBatchOnABusyStream(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	l := jetlogtest.Open(t, srv.ClientURL(), jetlog.Options{Timeout: time.Second})
	ctx := context.Background()
	filler := make([]eventlog.Input, jetlog.MaxBatch)
	for i := range filler {
		filler[i] = eventlog.Input{User: fmt.Sprintf("other%d", i%50), Data: []byte(`"` + fmt.Sprintf("%0200d", i) + `"`)}
	}
	for range 60 {
		_, err := l.AppendBatch(ctx, filler)
		require.NoError(t, err)
	}
	batch := []eventlog.Input{{User: "u", Data: []byte(`1`)}, {User: "v", Data: []byte(`2`)}}
	ids, err := l.AppendKeyedBatch(ctx, "order-7", batch)
	require.NoError(t, err)
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	gets, err := nc.SubscribeSync("$JS.API.DIRECT.GET.>")
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	again, err := l.AppendKeyedBatch(ctx, "order-7", batch)
	require.NoError(t, err, "the retry of a stored batch")
	require.Equal(t, ids, again)
	require.NoError(t, nc.Flush()) // the retry's requests reached the server before its answer
	n, _, err := gets.Pending()
	require.NoError(t, err)
	require.LessOrEqual(t, n, 2, "direct gets to find the first batch among 60,000 events")
}
