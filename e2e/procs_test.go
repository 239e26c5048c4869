package e2e

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOneCPUServesWithTwoProcs: pinned to one CPU (taskset), the binary
// runs with GOMAXPROCS=2 and says so, because with a single P a commit
// waiting in fdatasync stops every request from being read; an operator's
// own GOMAXPROCS is kept. Before, the pinned binary ran with 1.
func TestOneCPUServesWithTwoProcs(t *testing.T) {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("taskset (util-linux) is required in CI; .ci/run installs it")
		}
		t.Skip("taskset (util-linux) not installed")
	}
	pin := []string{taskset, "-c", "0"}

	s := startServerWrapped(t, sselogBinary(t), t.TempDir()+"/sselog.db", nil, pin)
	require.Equal(t, 2.0, metric(t, s.URL, "go_sched_gomaxprocs_threads"))
	require.Contains(t, s.Logs(), "one CPU: running with GOMAXPROCS=2")
	s.Stop()

	s = startServerWrapped(t, sselogBinary(t), t.TempDir()+"/sselog.db", []string{"GOMAXPROCS=1"}, pin)
	require.Equal(t, 1.0, metric(t, s.URL, "go_sched_gomaxprocs_threads"), "the operator's choice stands")
	require.NotContains(t, s.Logs(), "one CPU")
}
