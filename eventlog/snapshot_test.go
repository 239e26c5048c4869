package eventlog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// A snapshot taken while appends go on opens as a log and holds every
// event acknowledged before the snapshot began, with its content.
func TestSnapshotDuringAppends(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	users := []string{"a", "b", "c", ""}
	var mu sync.Mutex
	acked := map[eventlog.ID]string{} // id → data
	stop := make(chan struct{})
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				data := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)
				id, err := l.Append(ctx, eventlog.Input{User: users[(g+i)%len(users)], Data: []byte(data)})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				acked[id] = data
				if len(acked) >= 300 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(30 * time.Second):
		t.Fatal("appenders too slow")
	}
	mu.Lock()
	before := make(map[eventlog.ID]string, len(acked))
	for id, d := range acked {
		before[id] = d
	}
	mu.Unlock()

	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	require.NoError(t, err)
	var announced int64
	n, err := l.SnapshotSized(f, func(size int64) error { announced = size; return nil })
	require.NoError(t, err)
	require.NoError(t, f.Close())
	close(stop)
	wg.Wait()
	assert.Equal(t, announced, n, "SnapshotSized announces the size it writes")
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, n, info.Size())

	checkFile(t, path)
	snap := openAt(t, path, eventlog.Options{})
	held := map[eventlog.ID]string{}
	for _, u := range users[:3] {
		evs, gap := readAll(t, snap, u, eventlog.ZeroID, 500)
		require.Nil(t, gap)
		for _, e := range evs {
			held[e.ID] = string(e.Data)
		}
	}
	for id, data := range before {
		require.Equal(t, data, held[id], "event %s acknowledged before the snapshot", id)
	}
	s, err := snap.Stats()
	require.NoError(t, err)
	assert.Equal(t, uint64(len(held)), s.Events)
	assert.GreaterOrEqual(t, len(held), len(before))
	// The copy is a live log: it appends above everything it holds.
	id, err := snap.Append(ctx, eventlog.Input{User: "a", Data: []byte(`1`)})
	require.NoError(t, err)
	assert.Positive(t, id.Compare(s.Newest))
}

// An error from begin aborts the snapshot before anything is written.
func TestSnapshotSizedBeginError(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	appendN(t, l, "u", 3)
	var buf countingWriter
	_, err := l.SnapshotSized(&buf, func(int64) error { return os.ErrDeadlineExceeded })
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Zero(t, buf.n)
}

type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
