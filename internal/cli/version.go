package cli

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version overrides the version read from the build info. Release builds
// set it with:
//
//	go build -ldflags "-X github.com/sselog/sselog/internal/cli.version=v1.2.3" .
//
// (The variable lives here, not in main: -X main.version sets nothing.)
var version string

// versionString is the -ldflags version, else the main module's version
// from the build info (a tag, or a pseudo-version Go derives from the VCS),
// else "dev".
func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// revision is the VCS revision the binary was built from (12 hex digits,
// "-dirty" when the tree had changes), or "" when the build has none
// (go test binaries, -buildvcs=false, a tree outside git).
func revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && modified == "true" {
		rev += "-dirty"
	}
	return rev
}

func printVersion(_ context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	f := newEnvFlags("version", "Print the version, the VCS revision it was built from, the platform and the Go version.", getenv, stdout)
	if err := f.Parse(args); err != nil {
		return err
	}
	rev := ""
	if r := revision(); r != "" {
		rev = " (revision " + r + ")"
	}
	_, err := fmt.Fprintf(stdout, "sselog %s%s %s/%s %s\n", versionString(), rev, runtime.GOOS, runtime.GOARCH, runtime.Version())
	return err
}
