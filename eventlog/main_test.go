package eventlog_test

import (
	"os"
	"testing"
)

// TestMain lets the test binary double as the crash test's child process,
// and removes the benchmark fixtures it built.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path))
	}
	code := m.Run()
	removeFixtures()
	os.Exit(code)
}
