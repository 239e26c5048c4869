package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// damagedFile writes a log of a few hundred pages, closes it, and returns
// its path and bbolt page size.
func damagedFile(t *testing.T) (string, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sselog.db")
	l, err := eventlog.Open(path, eventlog.Options{})
	require.NoError(t, err)
	for b := range 20 {
		batch := make([]eventlog.Input, 200)
		for i := range batch {
			batch[i] = eventlog.Input{User: fmt.Sprintf("user-%d", i%7), Data: fmt.Appendf(nil, `{"b":%d,"i":%d,"pad":"%s"}`, b, i, strings.Repeat("x", 100))}
		}
		_, err := l.AppendBatch(context.Background(), batch)
		require.NoError(t, err)
	}
	_, err = l.Compact(context.Background()) // files the journal
	require.NoError(t, err)
	require.NoError(t, l.Close())
	return path, os.Getpagesize()
}

// A damaged data file ends the start with one clear line — the file,
// what is wrong, how to check it, that a backup restores it — never a
// runtime dump or a bbolt panic.
func TestDamagedDataFileFailsCleanly(t *testing.T) {
	bin := sselogBinary(t)
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, page int)
	}{
		{"truncated to half", func(t *testing.T, path string, _ int) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, fi.Size()/2))
		}},
		{"truncated to three pages", func(t *testing.T, path string, page int) {
			require.NoError(t, os.Truncate(path, int64(3*page)))
		}},
		{"flipped bits in page ids", func(t *testing.T, path string, page int) {
			flip(t, path, page, 0, 0x40) // a page that names another
		}},
		{"flipped bits in element counts", func(t *testing.T, path string, page int) {
			flip(t, path, page, 11, 0x20) // elements past the page's end
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, page := damagedFile(t)
			tc.damage(t, path, page)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--data", path)
			cmd.Env = cleanEnv()
			out, err := cmd.CombinedOutput()
			text := string(out)
			require.Error(t, err, "%.2000s", text)
			for _, bad := range []string{"goroutine ", "fatal error", "panic", "SIGSEGV", "SIGBUS"} {
				assert.False(t, strings.Contains(text, bad), "%q in %.2000s", bad, text)
			}
			lines := strings.Split(strings.TrimSpace(text), "\n")
			require.Len(t, lines, 1, "one line: %.2000s", text)
			assert.Contains(t, text, path)
			assert.Contains(t, text, "sselog check")
			assert.Contains(t, text, "backup")

			// sselog check says what is wrong, in one line too.
			out, err = exec.CommandContext(ctx, bin, "check", path).CombinedOutput()
			text = string(out)
			require.Error(t, err, "%.2000s", text)
			assert.Len(t, strings.Split(strings.TrimSpace(text), "\n"), 1, "%.2000s", text)
			assert.Contains(t, text, "damaged")
		})
	}
}

// flip xors mask into byte off of every fifth page past the meta pages.
func flip(t *testing.T, path string, page, off int, mask byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for p := 3; (p+1)*page <= len(b); p += 5 {
		b[p*page+off] ^= mask
	}
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// A 0-byte file at the data path (say, made by touch) is a new log, and
// the start says so.
func TestEmptyDataFileIsNewLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sselog.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	s := startServer(t, path)
	assert.Contains(t, s.Logs(), "empty")
	s.Stop()
}
