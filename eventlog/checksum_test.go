package eventlog_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
)

// flipIn flips one bit of every copy of marker in the file (bbolt may keep
// stale copies in freed pages: all are flipped).
func flipIn(t *testing.T, path, marker string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	n := 0
	for i := bytes.Index(b, []byte(marker)); i >= 0; {
		b[i+len(marker)/2] ^= 0x01
		n++
		j := bytes.Index(b[i+1:], []byte(marker))
		if j < 0 {
			break
		}
		i += 1 + j
	}
	require.Positive(t, n, "marker %q not in the file", marker)
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// A bit flipped inside a stored event (bbolt checksums nothing) is caught
// by the record's CRC-32C: the event is never served, it is logged and
// counted once, the read goes on with the rest, and sselog check reports
// it.
func TestFlippedBitInRecordIsNeverServed(t *testing.T) {
	for _, where := range []string{"filed", "journal"} {
		t.Run(where, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sselog.db")
			l, err := eventlog.Open(path, eventlog.Options{MoveDelay: map[string]time.Duration{"filed": 0, "journal": time.Hour}[where]})
			require.NoError(t, err)
			ctx := context.Background()
			var ids []eventlog.ID
			for _, d := range []string{`"first"`, `"SECOND-EVENT-MARKER"`, `"third"`} {
				id, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(d)})
				require.NoError(t, err)
				ids = append(ids, id)
			}
			if where == "filed" {
				_, err = l.Compact(ctx)
				require.NoError(t, err)
			}
			require.NoError(t, l.Close())
			flipIn(t, path, "SECOND-EVENT-MARKER")

			_, err = eventlog.Check(path)
			require.ErrorIs(t, err, eventlog.ErrDamaged)

			l = openAt(t, path, eventlog.Options{MoveDelay: time.Hour})
			for range 2 {
				evs, gap := readAll(t, l, "u", eventlog.ZeroID, 10)
				assert.Nil(t, gap)
				assert.Equal(t, []eventlog.ID{ids[0], ids[2]}, idsOf(evs), "the damaged event is skipped")
			}
			assert.Equal(t, uint64(1), stats(t, l).DamagedRecords, "counted once")
		})
	}
}

// Records written before checksums (version 1) are still read.
func TestRecordsWithoutChecksumStillRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sselog.db")
	l := openAt(t, path, eventlog.Options{})
	require.NoError(t, l.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	id := idAt(t0)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		v := []byte{1}
		v = binary.AppendVarint(v, t0.UnixNano())
		v = binary.AppendUvarint(v, 4)
		v = append(append(v, "note"...), `{"old":true}`...)
		if err := tx.Bucket([]byte("meta")).Put([]byte("last"), id[:]); err != nil {
			return err
		}
		return tx.Bucket([]byte("broadcast")).Put(id[:], v)
	}))
	require.NoError(t, db.Close())
	rep, err := eventlog.Check(path)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Records)
	l = openAt(t, path, eventlog.Options{})
	evs := eventlogtest.Events(t, l, "anyone")
	require.Len(t, evs, 1)
	assert.Equal(t, "note", evs[0].Name)
	assert.Equal(t, `{"old":true}`, string(evs[0].Data))
	assert.True(t, evs[0].Time.Equal(t0))
}
