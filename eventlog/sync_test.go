package eventlog

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCommitsAreSynced: every commit is fsync'd before Append returns
// (invariant 1). The crash tests cannot see a missing sync, since SIGKILL
// leaves the kernel's page cache to write the file out; only a power cut
// would. So the setting itself is pinned: bbolt syncs each commit and
// each growth of the file, and nothing turns that off.
func TestCommitsAreSynced(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
	require.NoError(t, err)
	defer l.Close()
	require.False(t, l.db.NoSync, "commits fsync")
	require.False(t, l.db.NoGrowSync, "file growth fsyncs")
}
