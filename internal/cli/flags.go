package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"
)

// envFlags registers flags whose defaults come from the environment:
// the built-in default, overridden by the SSELOG_ variable, overridden by
// the flag. A malformed variable is an error, not silently ignored.
type envFlags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

func newEnvFlags(name, summary string, getenv func(string) string, stderr io.Writer) *envFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: sselog %s [flags]\n\n%s\n\nFlags (each with its environment variable; flags win):\n", name, summary)
		fs.PrintDefaults()
	}
	return &envFlags{fs: fs, getenv: getenv}
}

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
// arguments are an error: a typo must not be silently ignored.
func (e *envFlags) Parse(args []string) error {
	if err := errors.Join(e.errs...); err != nil {
		return err
	}
	if err := e.fs.Parse(args); err != nil {
		return err
	}
	if e.fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", e.fs.Name(), e.fs.Arg(0))
	}
	return nil
}
