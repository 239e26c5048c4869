//go:build unix

package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/api"
	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/internal/testkit"
)

// "sselog backup -o" onto the running server's own data file (by its
// path, a symlink or a hard link) is refused: renaming the snapshot over
// it would lose every publish acknowledged afterwards at the next
// restart.
func TestBackupRefusesLiveDataFile(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "sselog.db")
	lg := eventlogtest.OpenAt(t, data, eventlog.Options{})
	srv, err := api.New(lg, api.Config{})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(srv.CloseStreams)
	ctx := context.Background()
	_, err = lg.Append(ctx, eventlog.Input{User: "u", Data: []byte(`"before"`)})
	require.NoError(t, err)

	link := filepath.Join(dir, "link.db")
	require.NoError(t, os.Symlink(data, link))
	hard := filepath.Join(dir, "hard.db")
	require.NoError(t, os.Link(data, hard))
	for _, out := range []string{data, link, hard} {
		t.Run(filepath.Base(out), func(t *testing.T) {
			var stderr bytes.Buffer
			err := Run(ctx, []string{"backup", "--url", ts.URL, "-o", out, "--quiet"}, testkit.Env(), &bytes.Buffer{}, &stderr)
			require.Error(t, err)
			require.Contains(t, err.Error(), "in use")
			_, err = os.Stat(out + ".tmp")
			require.ErrorIs(t, err, os.ErrNotExist, "nothing downloaded")
		})
	}

	// The server's file is still the one it writes: an event published
	// now is there after a restart.
	after, err := lg.Append(ctx, eventlog.Input{User: "u", Data: []byte(`"after"`)})
	require.NoError(t, err)
	ts.Close()
	require.NoError(t, lg.Close())
	lg = eventlogtest.OpenAt(t, data, eventlog.Options{})
	evs := eventlogtest.Events(t, lg, "u")
	require.Len(t, evs, 2)
	require.Equal(t, after, evs[1].ID)
}

// The backup's download is verified as "sselog check" verifies a file: a
// record whose bytes changed fails its checksum, and the backup is
// refused before it replaces anything.
func TestVerifyBackupChecksRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "download.db")
	lg := eventlogtest.OpenAt(t, path, eventlog.Options{})
	_, err := lg.Append(context.Background(), eventlog.Input{User: "u", Data: []byte(`"A-RECORD-MARKER"`)})
	require.NoError(t, err)
	require.NoError(t, lg.Close())
	_, err = verifyBackup(path)
	require.NoError(t, err)

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	i := bytes.Index(b, []byte("A-RECORD-MARKER"))
	require.Positive(t, i)
	for ; i >= 0; i = bytes.Index(b, []byte("A-RECORD-MARKER")) {
		b[i] = 'B'
	}
	require.NoError(t, os.WriteFile(path, b, 0o600))
	_, err = verifyBackup(path)
	require.ErrorIs(t, err, eventlog.ErrDamaged)
	// Put it back for the kit's check at cleanup.
	require.NoError(t, os.WriteFile(path, bytes.ReplaceAll(b, []byte("B-RECORD-MARKER"), []byte("A-RECORD-MARKER")), 0o600))
}

// TestBackupReplacesNothingUnverified: a download that fails its check
// (a damaged record), that was cut short, or whose destination a process locked while it
// ran (a server started on it), replaces nothing: the previous file is
// left as it was, and no .tmp is left behind.
func TestBackupReplacesNothingUnverified(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	lg := eventlogtest.OpenAt(t, src, eventlog.Options{})
	_, err := lg.Append(context.Background(), eventlog.Input{User: "u", Data: []byte(`"A-RECORD-MARKER"`)})
	require.NoError(t, err)
	require.NoError(t, lg.Close())
	good, err := os.ReadFile(src)
	require.NoError(t, err)
	damaged := bytes.ReplaceAll(good, []byte("A-RECORD-MARKER"), []byte("B-RECORD-MARKER"))
	require.NotEqual(t, good, damaged)

	out := filepath.Join(dir, "backup.db")
	for _, tc := range []struct {
		name string
		says string
		// serve answers the download, as GET /v1/admin/backup does
		serve func(w http.ResponseWriter)
	}{
		{"damaged", "checksum", func(w http.ResponseWriter) { _, _ = w.Write(damaged) }},
		{"cut short", "bytes", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", strconv.Itoa(len(good)))
			_, _ = w.Write(good[:len(good)/2])
		}},
		{"locked meanwhile", "in use", func(w http.ResponseWriter) {
			f, err := os.Open(out)
			if !assert.NoError(t, err) {
				return
			}
			t.Cleanup(func() { f.Close() })
			assert.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
			_, _ = w.Write(good)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(out, []byte("the previous backup"), 0o600))
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.serve(w) }))
			t.Cleanup(ts.Close)
			err := Run(context.Background(), []string{"backup", "--url", ts.URL, "-o", out, "--quiet"}, testkit.Env(), &bytes.Buffer{}, &bytes.Buffer{})
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.says)
			b, err := os.ReadFile(out)
			require.NoError(t, err)
			require.Equal(t, "the previous backup", string(b), "the previous file is untouched")
			_, err = os.Stat(out + ".tmp")
			require.ErrorIs(t, err, os.ErrNotExist, "nothing left behind")
		})
	}
}
