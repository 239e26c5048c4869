package jetlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/jetlog"
	"github.com/sselog/sselog/jetlog/jetlogtest"
)

// A message on the stream that is not an event (another app publishing
// on its subjects) is a hole in a node's tail as a deleted sequence is:
// a resume from below the node's floor still gets the events after it.
func TestResumeBelowAForeignMessage(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	ctx := context.Background()
	pre := jetlogtest.Open(t, srv.ClientURL(), jetlog.Options{Stream: "HOLE"})
	seen, err := pre.Append(ctx, eventlog.Input{User: "u", Data: []byte(`0`)})
	require.NoError(t, err)
	_, err = pre.Append(ctx, eventlog.Input{User: "v", Data: []byte(`1`)})
	require.NoError(t, err)
	l := jetlogtest.Open(t, srv.ClientURL(), jetlog.Options{Stream: "HOLE"}) // its floor: v's event
	js, err := jetstream.New(jetlogtest.Connect(t, srv.ClientURL()))
	require.NoError(t, err)
	_, err = js.Publish(ctx, "HOLE.x", []byte(`not an event`))
	require.NoError(t, err)
	var want []eventlog.ID
	for i := range 3 {
		id, err := pre.Append(ctx, eventlog.Input{User: "u", Data: fmt.Appendf(nil, `%d`, i+2)})
		require.NoError(t, err)
		want = append(want, id)
	}
	require.Eventually(t, func() bool { return l.Last() == want[2] }, 10*time.Second, 10*time.Millisecond)
	p, err := l.ReadAfter("u", seen, 100)
	require.NoError(t, err)
	got := eventlogtest.IDs(p.Events)
	require.Equal(t, want, got, "page.Last=%s", p.Last)
}
