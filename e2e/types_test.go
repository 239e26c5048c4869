package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// typesDir holds the example that tsc checks against sselog.d.ts, and
// its package.json (.ci/run installs typescript there with npm ci).
const typesDir = "testdata/types"

// TestTypeScriptDeclarations: sselog.d.ts type-checks a TypeScript example
// of every export with tsc --strict, and the lines that misuse the API
// fail to (// @ts-expect-error), so the declarations are neither wrong nor
// loose; every export of sselog.js is declared.
func TestTypeScriptDeclarations(t *testing.T) {
	js, err := os.ReadFile("../api/web/sselog.js")
	require.NoError(t, err)
	dts, err := os.ReadFile("../api/web/sselog.d.ts")
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`(?m)^export (?:async )?(?:const|function) (\w+)`).FindAllSubmatch(js, -1) {
		assert.Regexp(t, `(?m)^export declare (?:const|function) `+string(m[1])+`\b`, string(dts), "sselog.js exports %s", m[1])
	}

	tsc, err := filepath.Abs(filepath.Join(typesDir, "node_modules", ".bin", "tsc"))
	require.NoError(t, err)
	if _, err := os.Stat(tsc); err != nil {
		msg := "!!! the TypeScript test needs tsc: (cd e2e/testdata/types && npm ci)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + " -- SKIPPED; CI=true makes this a failure")
	}
	dir := t.TempDir()
	for _, name := range []string{"example.ts", "react-stub.ts", "tsconfig.json"} {
		b, err := os.ReadFile(filepath.Join(typesDir, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sselog.d.ts"), dts, 0o644))
	cmd := exec.Command(tsc, "-p", dir)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "tsc:\n%s", out)
}
