package eventlog_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sselog/sselog/eventlog"
)

// openLog opens a real log in a temp dir; at cleanup it closes it and runs
// bbolt's consistency check on the file.
func openLog(tb testing.TB, opts eventlog.Options) *eventlog.Log {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "sselog.db")
	l, err := eventlog.Open(path, opts)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = l.Close()
		checkFile(tb, path)
	})
	return l
}

func checkFile(tb testing.TB, path string) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(tb, err)
	defer db.Close()
	require.NoError(tb, db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}))
}
