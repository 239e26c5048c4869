package jetlog_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/jetlog"
	"github.com/sselog/sselog/jetlog/jetlogtest"
)

// An id whose sequence this stream holds, but with another time (say, an
// id of another stream or of a restored one), was never issued here: it is
// Page.Unknown, read from memory and from the stream alike; the real id
// at that sequence is not.
func TestUnknownNotTheMessageAtItsSequence(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			l := jetlogtest.Open(t, srv.ClientURL(), jetlog.Options{TailSize: mode.tail})
			var ids []eventlog.ID
			for range 4 {
				id, err := l.Append(context.Background(), eventlog.Input{User: "u", Data: []byte(`1`)})
				require.NoError(t, err)
				ids = append(ids, id)
			}
			other := ids[1]
			other[13] ^= 1 // same sequence, another millisecond
			p, err := l.ReadAfter("u", other, 10)
			require.NoError(t, err)
			assert.True(t, p.Unknown, "an id not of the message at its sequence")
			p, err = l.ReadAfter("u", ids[1], 10)
			require.NoError(t, err)
			assert.False(t, p.Unknown)
			assert.Equal(t, ids[2:], []eventlog.ID{p.Events[0].ID, p.Events[1].ID})
		})
	}
}

// An id with bytes 14-15 set is never one of this stream's (they are
// zero in every id it issues), even at a sequence retention deleted,
// which is otherwise taken as issued: it is Page.Unknown, from memory and
// from the stream alike.
func TestUnknownLowBytesAtADeletedSequence(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			l := jetlogtest.Open(t, srv.ClientURL(), jetlog.Options{Stream: "LOW" + mode.name, MaxEvents: 1, TailSize: mode.tail})
			var ids []eventlog.ID
			for range 2 { // the cap deletes the first
				id, err := l.Append(context.Background(), eventlog.Input{User: "u", Data: []byte(`1`)})
				require.NoError(t, err)
				ids = append(ids, id)
			}
			forged := ids[0]
			forged[15] = 1
			p, err := l.ReadAfter("u", forged, 10)
			require.NoError(t, err)
			assert.True(t, p.Unknown, "bytes 14-15 of an id of this stream are zero")
			p, err = l.ReadAfter("u", ids[0], 10)
			require.NoError(t, err)
			assert.False(t, p.Unknown, "a deleted sequence was issued")
		})
	}
}
