package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVersionFromBuildInfo: "sselog version" and /healthz report the
// module version and the VCS revision Go stamped into the binary, and a
// release build's -ldflags -X override replaces the version (as README
// documents).
func TestVersionFromBuildInfo(t *testing.T) {
	bin := sselogBinary(t)
	out, err := exec.Command("go", "version", "-m", bin).Output()
	require.NoError(t, err, "go version -m")
	info := string(out)
	modVersion := regexp.MustCompile(`(?m)^\s+mod\s+github.com/sselog/sselog\s+(\S+)`).FindStringSubmatch(info)
	require.NotNil(t, modVersion, "build info:\n%s", info)
	rev := regexp.MustCompile(`(?m)^\s+build\s+vcs.revision=([0-9a-f]{12})`).FindStringSubmatch(info)

	printed := runBinary(t, bin, "version")
	want := modVersion[1]
	if want == "(devel)" {
		want = "dev"
	}
	assert.True(t, strings.HasPrefix(printed, "sselog "+want+" "), "version %q, build info version %q", printed, want)
	srv := startServer(t, filepath.Join(t.TempDir(), "v.db"))
	health := browserGetJSON[map[string]string](t, srv.URL+"/healthz")
	assert.Equal(t, want, health["version"])
	if rev == nil {
		t.Logf("this build has no VCS revision (not a git checkout?): %q", printed)
	} else {
		assert.Contains(t, printed, "(revision "+rev[1], "the revision")
		assert.True(t, strings.HasPrefix(health["revision"], rev[1]), "healthz revision %q, want %s", health["revision"], rev[1])
	}
	srv.Stop()

	// A release build.
	rel := filepath.Join(t.TempDir(), "sselog")
	// -race like sselogBinary, so the build reuses its cache and only links.
	cmd := exec.Command("go", "build", "-race", "-ldflags", "-X github.com/sselog/sselog/internal/cli.version=v9.8.7", "-o", rel, "github.com/sselog/sselog")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", b)
	assert.True(t, strings.HasPrefix(runBinary(t, rel, "version"), "sselog v9.8.7 "), "the -ldflags override")
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
