package eventlog_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sselog/sselog/eventlog"
)

func countEvents(t *testing.T, l *eventlog.Log) uint64 {
	t.Helper()
	s, err := l.Stats()
	require.NoError(t, err)
	return s.Events
}

func TestIdempotentAppend(t *testing.T) {
	clk := newClock(t0, 0)
	l := openLog(t, eventlog.Options{Now: clk.Now, IdempotencyWindow: time.Hour})
	ctx := context.Background()
	in := eventlog.Input{User: "u", Name: "n", Data: []byte(`{"v":1}`), IdempotencyKey: "k1"}

	first, err := l.Append(ctx, in)
	require.NoError(t, err)
	again, err := l.Append(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, first, again, "a retry returns the first id")
	assert.Equal(t, uint64(1), countEvents(t, l))
	evs, _ := readAll(t, l, "u", eventlog.ZeroID, 10)
	require.Len(t, evs, 1)
	assert.Equal(t, `{"v":1}`, string(evs[0].Data), "the retry stored nothing")

	// The key names one request: another target, name or data is refused.
	for _, other := range []eventlog.Input{
		{User: "w", Name: "n", Data: []byte(`{"v":1}`), IdempotencyKey: "k1"},
		{Name: "n", Data: []byte(`{"v":1}`), IdempotencyKey: "k1"},
		{User: "u", Name: "other", Data: []byte(`{"v":1}`), IdempotencyKey: "k1"},
		{User: "u", Name: "n", Data: []byte(`{"v":2}`), IdempotencyKey: "k1"},
	} {
		_, err := l.Append(ctx, other)
		require.ErrorIs(t, err, eventlog.ErrIdempotencyKeyReused)
	}
	bcast, err := l.Append(ctx, eventlog.Input{Data: []byte(`1`), IdempotencyKey: "k2"})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), countEvents(t, l))

	// Within the window, compaction keeps the key.
	clk.Add(59 * time.Minute)
	_, err = l.Compact(ctx)
	require.NoError(t, err)
	again, err = l.Append(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, first, again)

	// After the window, and after compaction forgot it, the key stores anew.
	clk.Add(2 * time.Minute)
	_, err = l.Compact(ctx)
	require.NoError(t, err)
	fresh, err := l.Append(ctx, in)
	require.NoError(t, err)
	assert.Positive(t, fresh.Compare(bcast))
	assert.Equal(t, uint64(3), countEvents(t, l))
	again, err = l.Append(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, fresh, again, "the new append is what a retry now finds")
}

// An expired key is not honoured even before compaction removes it, and
// compaction of the old entry does not forget the newer one.
func TestIdempotencyExpiryWithoutCompaction(t *testing.T) {
	clk := newClock(t0, 0)
	l := openLog(t, eventlog.Options{Now: clk.Now, IdempotencyWindow: time.Hour})
	ctx := context.Background()
	in := eventlog.Input{User: "u", Data: []byte(`1`), IdempotencyKey: "k"}
	a, err := l.Append(ctx, in)
	require.NoError(t, err)
	clk.Add(90 * time.Minute)
	b, err := l.Append(ctx, in)
	require.NoError(t, err)
	require.NotEqual(t, a, b)
	clk.Add(30 * time.Minute) // a's entry expired, b's is 30 min old
	_, err = l.Compact(ctx)
	require.NoError(t, err)
	c, err := l.Append(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, b, c)
	assert.Equal(t, uint64(2), countEvents(t, l))
}

// Concurrent retries of one key, landing in the same group commit or in
// different ones, all get the same id and store one event.
func TestIdempotentConcurrentRetries(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	ids := make([]eventlog.ID, 50)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			id, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`1`), IdempotencyKey: "same"})
			assert.NoError(t, err)
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids {
		assert.Equal(t, ids[0], id)
	}
	assert.Equal(t, uint64(1), countEvents(t, l))
}

// In a batch, an event whose key was seen gets the old id; the rest are
// stored; a key repeated inside one batch stores once.
func TestIdempotentBatch(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	old, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`0`), IdempotencyKey: "k0"})
	require.NoError(t, err)
	ids, err := l.AppendBatch(ctx, []eventlog.Input{
		{User: "u", Data: []byte(`0`), IdempotencyKey: "k0"},
		{User: "u", Data: []byte(`2`), IdempotencyKey: "k2"},
		{User: "u", Data: []byte(`2`), IdempotencyKey: "k2"},
		{User: "u", Data: []byte(`4`)},
	})
	require.NoError(t, err)
	assert.Equal(t, old, ids[0])
	assert.Equal(t, ids[1], ids[2])
	assert.Positive(t, ids[3].Compare(ids[1]))
	evs, _ := readAll(t, l, "u", eventlog.ZeroID, 10)
	require.Len(t, evs, 3)
	assert.Equal(t, []string{"0", "2", "4"}, []string{string(evs[0].Data), string(evs[1].Data), string(evs[2].Data)})
	// A retry that stores nothing wakes no one.
	ch := l.Changed("u")
	_, err = l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`0`), IdempotencyKey: "k0"})
	require.NoError(t, err)
	select {
	case <-ch:
		t.Fatal("a retry that stored nothing closed Changed")
	default:
	}
}

// A keyed batch is one request: its key is not any event's key, a retry
// gets every id back, and the key with another batch is refused. A batch
// keyed k and a single keyed k are different keys.
func TestKeyedBatch(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	single, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`0`), IdempotencyKey: "k#0"})
	require.NoError(t, err)
	batch := []eventlog.Input{{User: "u", Data: []byte(`0`)}, {Data: []byte(`1`)}, {User: "v", Data: []byte(`2`)}}
	ids, err := l.AppendKeyedBatch(ctx, "k", batch)
	require.NoError(t, err)
	assert.NotContains(t, ids, single)
	again, err := l.AppendKeyedBatch(ctx, "k", batch)
	require.NoError(t, err)
	assert.Equal(t, ids, again)
	_, err = l.AppendKeyedBatch(ctx, "k", []eventlog.Input{batch[1], batch[0], batch[2]})
	require.ErrorIs(t, err, eventlog.ErrIdempotencyKeyReused)
	_, err = l.AppendKeyedBatch(ctx, "k", batch[:2])
	require.ErrorIs(t, err, eventlog.ErrIdempotencyKeyReused)
	_, err = l.AppendKeyedBatch(ctx, "j", []eventlog.Input{{User: "u", Data: []byte(`0`), IdempotencyKey: "x"}})
	require.ErrorIs(t, err, eventlog.ErrInvalidEvent)
	assert.Equal(t, uint64(4), countEvents(t, l))
}

// Keys a file stored before digests (user-scoped, no digest; a batch's as
// key#index) are still honoured for their window after an upgrade.
func TestLegacyIdempotencyKeys(t *testing.T) {
	clk := newClock(t0, 0)
	path := filepath.Join(t.TempDir(), "sselog.db")
	l := openAt(t, path, eventlog.Options{Now: clk.Now})
	ctx := context.Background()
	ids, err := l.AppendBatch(ctx, []eventlog.Input{{User: "u", Data: []byte(`1`)}, {Data: []byte(`2`)}, {User: "u", Data: []byte(`3`)}})
	require.NoError(t, err)
	require.NoError(t, l.Close())

	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("idem"))
		put := func(user, key string, id eventlog.ID) error {
			v := binary.BigEndian.AppendUint64(append([]byte(nil), id[:]...), uint64(t0.UnixNano()))
			return b.Put(append(append([]byte(user), 0), key...), v)
		}
		return errors.Join(put("u", "one", ids[0]), put("u", "b#0", ids[0]), put("", "b#1", ids[1]), put("u", "b#2", ids[2]))
	}))
	require.NoError(t, db.Close())

	clk.Add(time.Hour)
	l = openAt(t, path, eventlog.Options{Now: clk.Now})
	id, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`1`), IdempotencyKey: "one"})
	require.NoError(t, err)
	assert.Equal(t, ids[0], id)
	again, err := l.AppendKeyedBatch(ctx, "b", []eventlog.Input{{User: "u", Data: []byte(`1`)}, {Data: []byte(`2`)}, {User: "u", Data: []byte(`3`)}})
	require.NoError(t, err)
	assert.Equal(t, ids, again)
	assert.Equal(t, uint64(3), countEvents(t, l))
}

// TestIdempotencyDigestSeparatesNameFromData: the digest length-prefixes
// each field, so moving a byte from the data into the name is another
// request: "a" with data -1…(45 digits) and "a." with the data less its
// first byte would hash alike if the name's length were left out (the
// data's length, 46, is '.' and its first byte, '-', is 45).
func TestIdempotencyDigestSeparatesNameFromData(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	digits := "1" + strings.Repeat("2", 44)
	first := eventlog.Input{User: "u", Name: "a", Data: []byte("-" + digits), IdempotencyKey: "k"}
	second := eventlog.Input{User: "u", Name: "a.", Data: []byte(digits), IdempotencyKey: "k"}
	require.Len(t, first.Data, '.')
	require.Equal(t, byte(len(second.Data)), first.Data[0])
	_, err := l.Append(ctx, first)
	require.NoError(t, err)
	_, err = l.Append(ctx, second)
	require.ErrorIs(t, err, eventlog.ErrIdempotencyKeyReused)
	assert.Equal(t, uint64(1), countEvents(t, l))
}

// A key lives for exactly IdempotencyWindow: a retry that far after the
// first append, by the ageing clock and by the event id's wall time, is a
// new request and stores a new event; a nanosecond earlier it is the
// same one. (idemLive's two comparisons are strict.)
func TestIdempotencyWindowEndsAtItsLength(t *testing.T) {
	const window = time.Hour
	for _, early := range []time.Duration{time.Nanosecond, 0} {
		t.Run(fmt.Sprintf("%v before the end", early), func(t *testing.T) {
			clk, m := newClock(t0, 0), &mono{}
			l := openLog(t, eventlog.Options{Now: clk.Now, Elapsed: m.Elapsed, IdempotencyWindow: window})
			ctx := context.Background()
			in := eventlog.Input{User: "u", Data: []byte(`1`), IdempotencyKey: "k"}
			first, err := l.Append(ctx, in)
			require.NoError(t, err)

			// The key was stored at ageing time t0 (no time elapsed) and
			// its id carries the wall time first.Time().
			m.Add(window - early)
			clk.Set(time.UnixMilli(int64(first.Time())).Add(window - early))
			again, err := l.Append(ctx, in)
			require.NoError(t, err)
			if early > 0 {
				assert.Equal(t, first, again, "inside the window: the retry is the first append")
				assert.Equal(t, uint64(1), countEvents(t, l))
				return
			}
			assert.NotEqual(t, first, again, "at the window's end the key has expired: a new event")
			assert.Equal(t, uint64(2), countEvents(t, l))
		})
	}
}
