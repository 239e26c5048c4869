package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// envFlags registers flags whose defaults come from the environment:
// the built-in default, overridden by the SSELOG_ variable, overridden by
// the flag. A malformed variable is an error, not silently ignored.
type envFlags struct {
	fs      *flag.FlagSet
	summary string
	stdout  io.Writer // where --help goes, so "| less" works
	getenv  func(string) string
	errs    []error
}

// newEnvFlags returns the flags of subcommand name. --help prints to
// stdout; a parse error is returned, never printed here, so it is said
// once (by main).
func newEnvFlags(name, summary string, getenv func(string) string, stdout io.Writer) *envFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &envFlags{fs: fs, summary: summary, stdout: stdout, getenv: getenv}
}

// printUsage writes the command's help: its summary and every flag as
// --name, with the environment variable it reads where it reads one.
func (e *envFlags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: sselog %s [flags]\n\n%s\n\nFlags (those marked env also read that variable; a flag wins):\n", e.fs.Name(), e.summary)
	var b strings.Builder
	e.fs.SetOutput(&b)
	e.fs.PrintDefaults()
	e.fs.SetOutput(io.Discard)
	_, _ = io.WriteString(w, singleDash.ReplaceAllString(b.String(), "  --"))
}

// singleDash matches the start of a flag line as flag.PrintDefaults writes
// it ("  -name"); GNU-style "--name" works too and is what we document.
var singleDash = regexp.MustCompile(`(?m)^  -`)

// lookup returns the environment's value for env, if set.
func (e *envFlags) lookup(env string) (string, bool) {
	if env == "" {
		return "", false
	}
	v := e.getenv(env)
	return v, v != ""
}

func (e *envFlags) usage(env, usage string) string {
	if env == "" {
		return usage
	}
	return usage + " (env " + env + ")"
}

func (e *envFlags) String(p *string, name, env, def, usage string) {
	if v, ok := e.lookup(env); ok {
		def = v
	}
	e.fs.StringVar(p, name, def, e.usage(env, usage))
}

// Secret is String whose value --help never shows.
func (e *envFlags) Secret(p *string, name, env, usage string) {
	v, _ := e.lookup(env)
	e.fs.StringVar(p, name, "", e.usage(env, usage))
	*p = v
}

func (e *envFlags) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := e.lookup(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a duration (say 90s, 15m, 168h)", env, v))
		}
		def = d
	}
	e.fs.DurationVar(p, name, def, e.usage(env, usage))
}

func (e *envFlags) Int(p *int, name, env string, def int, usage string) {
	if v, ok := e.lookup(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		}
		def = n
	}
	e.fs.IntVar(p, name, def, e.usage(env, usage))
}

func (e *envFlags) Int64(p *int64, name, env string, def int64, usage string) {
	if v, ok := e.lookup(env); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		}
		def = n
	}
	e.fs.Int64Var(p, name, def, e.usage(env, usage))
}

func (e *envFlags) Bool(p *bool, name, env string, usage string) {
	def := false
	if v, ok := e.lookup(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a boolean", env, v))
		}
		def = b
	}
	e.fs.BoolVar(p, name, def, e.usage(env, usage))
}

// Parse parses args, reporting environment errors first. Extra positional
// arguments are an error: a typo must not be silently ignored. --help
// prints the usage to stdout and returns flag.ErrHelp.
func (e *envFlags) Parse(args []string) error {
	if err := e.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			e.printUsage(e.stdout)
			return err
		}
		return fmt.Errorf("%s: %w (see sselog %s --help)", e.fs.Name(), err, e.fs.Name())
	}
	if err := errors.Join(e.errs...); err != nil {
		return err
	}
	if e.fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", e.fs.Name(), e.fs.Arg(0))
	}
	return nil
}
