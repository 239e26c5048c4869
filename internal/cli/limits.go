//go:build unix

package cli

import (
	"log/slog"
	"syscall"
)

// fdReserve is how many file descriptors the global stream cap leaves for
// everything else: publishes, health checks, backups, the data file, the
// listeners. A tenth of the limit is kept when that is more.
const fdReserve = 100

// defaultMaxStreams derives the global stream cap from the process's
// file limit (Go raises the soft limit to the hard one at start), so that
// streams alone can never exhaust it.
func defaultMaxStreams(logger *slog.Logger) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logger.Warn("cannot read the file limit; streams are capped at 1000", "err", err)
		return 1000
	}
	return streamsFor(lim.Cur)
}

// streamsFor is the stream cap for a file limit of n.
func streamsFor(n uint64) int {
	reserve := max(fdReserve, n/10)
	if n <= 2*reserve {
		return max(1, int(n/2)) // a tiny limit: half for streams
	}
	return int(min(n-reserve, 1<<30))
}
