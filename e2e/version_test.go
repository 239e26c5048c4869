package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVersionFromBuildInfo: "sselog version" and /healthz?details=1 report the
// module version and the VCS revision Go stamps into a binary built from a
// git checkout, and a release build's -ldflags -X override replaces the
// version (as README documents). It builds from a fresh clone of HEAD, so
// the stamp does not depend on how this checkout was made (a worktree, or
// GOFLAGS=-buildvcs=false, gets none).
func TestVersionFromBuildInfo(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not found: no checkout to stamp a revision from")
	}
	top, err := exec.Command(git, "rev-parse", "--show-toplevel").Output()
	require.NoError(t, err, "git rev-parse")
	head, err := exec.Command(git, "rev-parse", "HEAD").Output()
	require.NoError(t, err)
	rev := strings.TrimSpace(string(head))[:12]
	src := filepath.Join(t.TempDir(), "src")
	out, err := exec.Command(git, "clone", "-q", "--no-hardlinks", strings.TrimSpace(string(top)), src).CombinedOutput()
	require.NoError(t, err, "git clone: %s", out)

	build := func(ldflags string) string {
		t.Helper()
		bin := filepath.Join(t.TempDir(), "sselog")
		// -race like sselogBinary, so the build reuses its cache.
		cmd := exec.Command("go", "build", "-race", "-buildvcs=true", "-ldflags", ldflags, "-o", bin, ".")
		cmd.Dir = src
		cmd.Env = append(cleanEnv(), "GOFLAGS=")
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build: %s", b)
		return bin
	}

	bin := build("")
	printed := runBinary(t, bin, "version")
	assert.Regexp(t, `^sselog v\S+ \(revision `+rev+`\) `, printed, "the module version Go derives from the commit, and the revision")
	srv := startServerBin(t, bin, filepath.Join(t.TempDir(), "v.db"), nil)
	health := browserGetJSON[map[string]string](t, srv.URL+"/healthz?details=1") // open mode: no key needed
	assert.Equal(t, rev, health["revision"])
	assert.True(t, strings.HasPrefix(printed, "sselog "+health["version"]+" "), "healthz version %q, printed %q", health["version"], printed)
	srv.Stop()

	// A release build.
	rel := build("-X github.com/sselog/sselog/internal/cli.version=v9.8.7")
	assert.True(t, strings.HasPrefix(runBinary(t, rel, "version"), "sselog v9.8.7 (revision "+rev+") "), "the -ldflags override")
}

// runBinary runs bin with args and returns its stdout, requiring success.
func runBinary(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	out, err := cmd.Output()
	require.NoError(t, err, "%s %v", bin, args)
	return string(out)
}
