//go:build !unix

package cli

import "log/slog"

// defaultMaxStreams: without getrlimit, a fixed cap.
func defaultMaxStreams(*slog.Logger) int { return 1000 }
