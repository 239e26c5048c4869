package e2e

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNextjsClientIsTheBundledOne: the Next.js example carries a copy of
// the browser client and its types (it builds without the server running),
// which must not drift from what the binary serves.
func TestNextjsClientIsTheBundledOne(t *testing.T) {
	for _, name := range []string{"sselog.js", "sselog.d.ts"} {
		served, err := os.ReadFile("../api/web/" + name)
		require.NoError(t, err)
		copied, err := os.ReadFile("../examples/nextjs/lib/" + name)
		require.NoError(t, err)
		require.Equal(t, string(served), string(copied), "examples/nextjs/lib/%s differs from api/web/%s: copy it over", name, name)
	}
}
