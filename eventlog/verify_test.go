package eventlog_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	l, err := eventlog.Open(good, eventlog.Options{})
	require.NoError(t, err)
	_, err = l.Append(context.Background(), eventlog.Input{User: "u", Data: []byte(`1`)})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.NoError(t, eventlog.Verify(good))

	garbage := filepath.Join(dir, "garbage.db")
	require.NoError(t, os.WriteFile(garbage, make([]byte, 64<<10), 0o600))
	require.Error(t, eventlog.Verify(garbage))

	// Not tested: valid meta pages over garbage pages. bbolt's read-only
	// open walks the tree in a goroutine and panics on such a page; see
	// the README's backup section.

	missing := filepath.Join(dir, "missing.db")
	require.Error(t, eventlog.Verify(missing))
	require.NoFileExists(t, missing, "verifying must not create a file")
}
