package eventlog_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

func TestOpenCreatesParentDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "c", "sselog.db")
	l := openAt(t, path, eventlog.Options{})
	_, err := l.Append(context.Background(), eventlog.Input{User: "u", Data: []byte(`1`)})
	require.NoError(t, err)
	assert.Equal(t, path, l.Path())
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Positive(t, info.Size())
}

// A second Open of a file held by a live Log fails on its own (after
// bbolt's lock timeout, never hanging) and says the file is locked.
func TestOpenLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sselog.db")
	openAt(t, path, eventlog.Options{})
	done := make(chan error, 1)
	go func() {
		l, err := eventlog.Open(path, eventlog.Options{})
		if err == nil {
			_ = l.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "locked")
		assert.Contains(t, err.Error(), path)
	case <-time.After(30 * time.Second):
		t.Fatal("second Open of a locked file did not return")
	}
}

// Files that are not bbolt files are refused with a message that says so,
// whatever their size (bbolt's own error differs below two pages).
func TestOpenNotABboltFile(t *testing.T) {
	random := func(n int) []byte { b := make([]byte, n); _, _ = rand.Read(b); return b }
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"five bytes", []byte("hello")},
		{"one page of random", random(4096)},
		{"text under two pages", bytes.Repeat([]byte("garbage!"), 1000)},
		{"two pages of random", random(8192)},
		{"64k of random", random(64 << 10)},
		{"json", []byte(`{"events":[{"id":"01J","data":{}}]}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sselog.db")
			require.NoError(t, os.WriteFile(path, tc.content, 0o600))
			l, err := eventlog.Open(path, eventlog.Options{})
			if err == nil {
				_ = l.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "not a bbolt data file")
			got, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.Equal(t, tc.content, got, "a refused file must be left untouched")
		})
	}
}

func TestOpenEmptyFileStartsALog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sselog.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	l := openAt(t, path, eventlog.Options{})
	_, err := l.Append(context.Background(), eventlog.Input{Data: []byte(`1`)})
	require.NoError(t, err)
}

func TestOpenDirectoryFails(t *testing.T) {
	_, err := eventlog.Open(t.TempDir(), eventlog.Options{})
	require.Error(t, err)
}

// Appends racing Close either succeed, and are on disk after a reopen, or
// fail with ErrClosed: nothing in between, nothing lost. One appender
// commits on its own goroutine; many queue for the writer.
func TestCloseRacingAppends(t *testing.T) {
	for _, n := range []int{1, 32} {
		t.Run(fmt.Sprintf("appenders=%d", n), func(t *testing.T) { closeRacingAppends(t, n) })
	}
}

func closeRacingAppends(t *testing.T, appenders int) {
	path := filepath.Join(t.TempDir(), "sselog.db")
	l, err := eventlog.Open(path, eventlog.Options{})
	require.NoError(t, err)
	var mu sync.Mutex
	var acked []eventlog.ID
	started := make(chan struct{}, appenders)
	var wg sync.WaitGroup
	for g := range appenders {
		wg.Go(func() {
			for i := 0; ; i++ {
				if i == 3 {
					started <- struct{}{}
				}
				in := eventlog.Input{User: []string{"a", "b", ""}[g%3], Data: jsonN(`[%d,%d]`, g, i)}
				id, err := l.Append(context.Background(), in)
				if err != nil {
					assert.ErrorIs(t, err, eventlog.ErrClosed)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	for range appenders {
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("appenders did not start")
		}
	}
	require.NoError(t, l.Close())
	wg.Wait()
	l2 := openAt(t, path, eventlog.Options{})
	s, err := l2.Stats()
	require.NoError(t, err)
	assert.Equal(t, uint64(len(acked)), s.Events, "events on disk must be exactly the acknowledged ones")
	held := map[eventlog.ID]bool{}
	for _, u := range []string{"a", "b"} {
		evs, _ := readAll(t, l2, u, eventlog.ZeroID, 1000)
		for _, e := range evs {
			held[e.ID] = true
		}
	}
	for _, id := range acked {
		assert.True(t, held[id], "acknowledged %s lost", id)
	}
}

func TestOperationsAfterClose(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx := context.Background()
	id, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`1`)})
	require.NoError(t, err)
	ch := l.Changed("u")
	require.NoError(t, l.Close())
	select {
	case <-ch:
	default:
		t.Fatal("Close left a Changed channel open")
	}
	select {
	case <-l.Changed("v"):
	default:
		t.Fatal("Changed after Close returned an open channel")
	}
	assert.Equal(t, id, l.Last())
	for name, op := range map[string]func() error{
		"Close":  l.Close,
		"Append": func() error { _, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`1`)}); return err },
		"AppendBatch": func() error {
			_, err := l.AppendBatch(ctx, []eventlog.Input{{Data: []byte(`1`)}})
			return err
		},
		"ReadAfter from zero": func() error { _, err := l.ReadAfter("u", eventlog.ZeroID, 10); return err },
		"ReadAfter the tail":  func() error { _, err := l.ReadAfter("u", id, 10); return err },
		"Stats":               func() error { _, err := l.Stats(); return err },
		"Snapshot":            func() error { _, err := l.Snapshot(io.Discard); return err },
		"Compact":             func() error { _, err := l.Compact(ctx); return err },
	} {
		err := op()
		assert.True(t, errors.Is(err, eventlog.ErrClosed), "%s after Close: %v", name, err)
	}
}

func TestAppendHonoursContext(t *testing.T) {
	l := openLog(t, eventlog.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Append(ctx, eventlog.Input{User: "u", Data: []byte(`1`)})
	require.ErrorIs(t, err, context.Canceled)
	// The writer drops a request whose context ended before its commit.
	s, err := l.Stats()
	require.NoError(t, err)
	assert.Zero(t, s.Events)
}
