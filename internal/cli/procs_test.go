package cli

import (
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEnsureProcs: with one P, serve runs with two, unless GOMAXPROCS was
// set by the operator; with more, it leaves the setting alone.
func TestEnsureProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOMAXPROCS" {
				return v
			}
			return ""
		}
	}
	for _, c := range []struct {
		name        string
		procs, want int
		envSet      string
	}{
		{name: "one CPU", procs: 1, want: 2},
		{name: "one CPU, chosen by the operator", procs: 1, envSet: "1", want: 1},
		{name: "two CPUs", procs: 2, want: 2},
		{name: "four CPUs", procs: 4, want: 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			runtime.GOMAXPROCS(c.procs)
			require.Equal(t, c.want, ensureProcs(env(c.envSet), quiet))
			require.Equal(t, c.want, runtime.GOMAXPROCS(0))
		})
	}
}
