package eventlog_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

func TestSmoke(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	a, err := l.Append(ctx, eventlog.Input{User: "u1", Name: "n", Data: []byte(`{"a":1}`)})
	require.NoError(t, err)
	b, err := l.Append(ctx, eventlog.Input{Data: []byte(`2`)})
	require.NoError(t, err)
	_, err = l.Append(ctx, eventlog.Input{User: "u2", Data: []byte(`3`)})
	require.NoError(t, err)
	require.Less(t, a.Compare(b), 0)
	p, err := l.ReadAfter("u1", eventlog.ZeroID, 10)
	require.NoError(t, err)
	require.Len(t, p.Events, 2)
	require.Equal(t, "u1", p.Events[0].User)
	require.Equal(t, "", p.Events[1].User)
	p, err = l.ReadAfter("u1", a, 10)
	require.NoError(t, err)
	require.Len(t, p.Events, 1)
	require.Equal(t, b, p.Events[0].ID)
}
