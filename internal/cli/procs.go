package cli

import (
	"log/slog"
	"runtime"
)

// minProcs is the fewest Ps serve runs with. A commit blocks its thread in
// fdatasync for hundreds of microseconds; with a single P the runtime runs
// nothing else until its monitor takes the P back, so requests that
// arrive meanwhile are not even read, groups collapse to a few events,
// and each pays a whole fsync. On one core, publishing at 64 publishers
// went from 4,900-6,300 to 17,400-18,400 events/s with a second P
// (docs/performance.md); on two cores a third P changed nothing.
const minProcs = 2

// ensureProcs raises GOMAXPROCS to minProcs when the machine (or the
// process's CPU affinity or quota) gives one, unless the GOMAXPROCS
// environment variable chose it. It returns the setting in force.
func ensureProcs(getenv func(string) string, logger *slog.Logger) int {
	n := runtime.GOMAXPROCS(0)
	if n >= minProcs || getenv("GOMAXPROCS") != "" {
		return n
	}
	runtime.GOMAXPROCS(minProcs)
	logger.Info("one CPU: running with GOMAXPROCS=2, so requests are read while a commit waits for the disk (set GOMAXPROCS to choose)", "cpus", n)
	return minProcs
}
