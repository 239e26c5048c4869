package eventlog

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func bigData(n int) []byte {
	return append(append([]byte{'"'}, bytes.Repeat([]byte("x"), n-2)...), '"')
}

// TestPageBytesBound: a read of large events stops at PageBytes (with at
// least one event), from the tail and from the file alike, says so in
// Truncated, and paging on returns every event once.
func TestPageBytesBound(t *testing.T) {
	const pageBytes = 100 << 10
	l, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{PageBytes: pageBytes})
	require.NoError(t, err)
	defer l.Close()
	var ids []ID
	for range 40 {
		id, err := l.Append(context.Background(), Input{User: "u", Data: bigData(30 << 10)})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	for name, read := range map[string]func(after ID) (Page, error){
		"tail": func(after ID) (Page, error) { return l.ReadAfter("u", after, MaxLimit) },
		"file": func(after ID) (Page, error) { return l.readFile("u", after, MaxLimit) },
	} {
		t.Run(name, func(t *testing.T) {
			var got []ID
			for after := ZeroID; ; {
				p, err := read(after)
				require.NoError(t, err)
				if len(p.Events) == 0 {
					break
				}
				size := 0
				for _, e := range p.Events {
					size += len(e.Data)
					got = append(got, e.ID)
				}
				assert.LessOrEqual(t, size, pageBytes+(30<<10), "a page holds at most the bound plus one event")
				if len(got) < len(ids) {
					assert.True(t, p.Truncated, "a page cut by bytes says so")
				}
				after = p.Events[len(p.Events)-1].ID
			}
			assert.Equal(t, ids, got)
		})
	}
	p, err := l.ReadAfter("u", ZeroID, MaxLimit)
	require.NoError(t, err)
	assert.Len(t, p.Events, 4, "100 KiB of 30 KiB events is four")

	huge, err := Open(filepath.Join(t.TempDir(), "h.db"), Options{PageBytes: 1 << 10})
	require.NoError(t, err)
	defer huge.Close()
	_, err = huge.Append(context.Background(), Input{User: "u", Data: bigData(8 << 10)})
	require.NoError(t, err)
	p, err = huge.ReadAfter("u", ZeroID, 10)
	require.NoError(t, err)
	assert.Len(t, p.Events, 1, "an event larger than the bound still comes, alone")
}

// TestTailByteBudget: the in-memory tail holds at most TailBytes however
// many events fit its count, evicts down to half of it, and reads of
// what it evicted go to the file and find everything.
func TestTailByteBudget(t *testing.T) {
	const budget = 1 << 20
	l, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{TailBytes: budget, TailSize: 16384})
	require.NoError(t, err)
	defer l.Close()
	var ids []ID
	for range 100 { // 6.4 MiB of 64 KiB events
		id, err := l.Append(context.Background(), Input{User: "u", Data: bigData(64 << 10)})
		require.NoError(t, err)
		ids = append(ids, id)
		l.tail.mu.RLock()
		held, counted := 0, l.tail.bytes
		for i := range l.tail.events {
			held += eventBytes(&l.tail.events[i])
		}
		l.tail.mu.RUnlock()
		require.Equal(t, held, counted, "the byte count matches what is held")
		require.LessOrEqual(t, held, budget, "the tail holds at most its budget")
	}
	var got []ID
	for after := ZeroID; ; {
		p, err := l.ReadAfter("u", after, MaxLimit)
		require.NoError(t, err)
		if len(p.Events) == 0 {
			break
		}
		for _, e := range p.Events {
			got = append(got, e.ID)
		}
		after = p.Events[len(p.Events)-1].ID
	}
	assert.Equal(t, ids, got)
}
