package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// runHelp runs args and returns stdout, requiring success and nothing on
// stderr: help goes to stdout, so "| less" works.
func runHelp(t *testing.T, env func(string) string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	require.NoError(t, Run(context.Background(), args, env, &out, &errOut), "sselog %v", args)
	assert.Empty(t, errOut.String(), "stderr of sselog %v", args)
	return out.String()
}

// TestHelpListsCommands: "sselog --help", "-h" and "sselog help" list every
// subcommand with its one line, on stdout.
func TestHelpListsCommands(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			help := runHelp(t, testkit.Env(), args...)
			for _, c := range commands {
				assert.Regexp(t, `(?m)^  `+c.name+` +`+regexpQuote(c.summary)+`$`, help, c.name)
			}
			assert.Contains(t, help, "sselog <command> --help")
		})
	}
}

func regexpQuote(s string) string {
	return strings.NewReplacer("(", `\(`, ")", `\)`, ".", `\.`, "+", `\+`).Replace(s)
}

// TestHelpDocumentsEveryOption: serve's help lists every flag as --flag
// with its environment variable, and never shows a secret.
func TestHelpDocumentsEveryOption(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"serve", "-h"}} {
		help := runHelp(t, testkit.Env("SSELOG_PUBLISHER_KEY=secret-value"), args...)
		for _, name := range []string{"addr", "data", "publisher-key", "subscriber-secret", "retention", "max-events",
			"compact-interval", "heartbeat", "retry", "write-timeout", "max-body", "max-batch-body", "cors-origins",
			"tls-cert", "tls-key", "shutdown-timeout", "log-format", "pprof"} {
			assert.Regexp(t, `(?m)^  --`+name+`\b`, help, "%v: %s", args, name)
			assert.Contains(t, help, "(env SSELOG_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+")", name)
		}
		assert.NotRegexp(t, `(?m)^  -[a-z]`, help, "a flag shown with one dash")
		assert.NotContains(t, help, "secret-value")
	}
}

// TestHelpEnvClaimsAreTrue: each subcommand's help names an environment
// variable only where the flag reads one, makes no blanket claim, and each
// named variable really sets the flag: set to a sample value, it shows as
// the flag's default (secrets, whose value help never shows, excepted).
func TestHelpEnvClaimsAreTrue(t *testing.T) {
	envRe := regexp.MustCompile(`\(env (SSELOG_[A-Z_]+)\)`)
	for _, c := range commands {
		if c.name == "bench" {
			continue // its own flag set, documented in README's performance section
		}
		t.Run(c.name, func(t *testing.T) {
			help := runHelp(t, testkit.Env(), c.name, "--help")
			assert.NotContains(t, help, "Every flag has")
			assert.NotRegexp(t, `(?m)^  -[a-z]`, help, "a flag shown with one dash")
			for _, f := range helpFlags(help) {
				m := envRe.FindStringSubmatch(f.usage)
				if m == nil || strings.Contains(f.usage, "secret") || strings.Contains(f.usage, "key") || f.name == "token" {
					continue
				}
				sample := map[string]string{"duration": "7s", "int": "7", "": "true"}[f.typ]
				if sample == "" {
					sample = "sample-value"
				}
				again := runHelp(t, testkit.Env(m[1]+"="+sample), c.name, "--help")
				var got helpFlag
				for _, g := range helpFlags(again) {
					if g.name == f.name {
						got = g
					}
				}
				assert.Contains(t, strings.ReplaceAll(got.usage, `"`, ""), "(default "+sample+")", "--%s with %s=%s", f.name, m[1], sample)
			}
		})
	}
}

type helpFlag struct{ name, typ, usage string }

// helpFlags splits flag help into its flags: "  --name type" lines, each
// followed by its indented usage.
func helpFlags(help string) []helpFlag {
	var out []helpFlag
	head := regexp.MustCompile(`^  --([a-z-]+)(?: ([a-z]+))?`)
	for _, line := range strings.Split(help, "\n") {
		if m := head.FindStringSubmatch(line); m != nil {
			out = append(out, helpFlag{name: m[1], typ: m[2]})
		} else if len(out) > 0 && strings.HasPrefix(line, "    ") {
			out[len(out)-1].usage += strings.TrimSpace(line) + " "
		}
	}
	return out
}
