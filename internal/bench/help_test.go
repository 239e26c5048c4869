package bench

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHelpGoesToStdout: "sselog bench --help" and a scenario's --help print
// to stdout (so "| less" works), with flags shown as --flag, and succeed.
func TestHelpGoesToStdout(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"publish", "--help"}, {"fanout", "-h"}} {
		var out, errOut bytes.Buffer
		e := env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
		require.NoError(t, run(context.Background(), e, args), "%v", args)
		assert.Empty(t, errOut.String(), "stderr of %v", args)
		assert.NotEmpty(t, out.String(), "stdout of %v", args)
		if len(args) == 2 {
			assert.Contains(t, out.String(), "  --url", "%v", args)
			assert.NotContains(t, out.String(), "\n  -url", "%v", args)
		}
	}
}
