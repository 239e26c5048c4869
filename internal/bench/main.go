package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// env is what a run needs from its process, injected so tests can run
// children as test binaries.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// self returns a command running this tool: args are what follows
	// the word "bench".
	self func(ctx context.Context, args ...string) *exec.Cmd
	// server returns a command running the real server: args are what
	// follows the word "serve".
	server func(ctx context.Context, args ...string) *exec.Cmd
}

// Main runs `sselog bench`: args are what follows the word "bench", for
// example `publish --spawn --ceiling --publishers 64 --events 50000`. The
// summary goes to stdout, progress lines and diagnostics to stderr. It
// returns an error when the run could not be made or found a failure
// (an unacknowledged publish, a lost or duplicated event, a dropped
// connection), after printing the summary.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	exe, exeErr := os.Executable()
	cmd := func(ctx context.Context, prefix string, args []string) *exec.Cmd {
		if exeErr != nil {
			exe = os.Args[0]
		}
		return exec.CommandContext(ctx, exe, append([]string{prefix}, args...)...)
	}
	return run(ctx, env{
		stdout: stdout,
		stderr: stderr,
		getenv: os.Getenv,
		self:   func(ctx context.Context, args ...string) *exec.Cmd { return cmd(ctx, "bench", args) },
		server: func(ctx context.Context, args ...string) *exec.Cmd { return cmd(ctx, "serve", args) },
	}, args)
}

const usage = `usage: sselog bench <scenario> [flags]

Scenarios:
  publish       concurrent publishers, one event (or --batch K) per request:
                events/s acknowledged and ack latency
  fanout        subscribers and a publisher at a fixed rate: delivered
                events/s, publish-to-receive latency, every delivery verified
  resume        fill a log, then clients resume from random points:
                time to first event and replay rate
  connections   hold idle subscribers open: server RSS per connection,
                connection setup rate

Targets (loopback only):
  --url URL     a running server (default http://127.0.0.1:8080)
  --spawn       start the real server on a free port with a fresh data file
  --ceiling     also (or only) run against a built-in no-op server with the
                same routes answered from memory, started as a child process

Run 'sselog bench <scenario> -h' for a scenario's flags.
`

// run dispatches to a scenario; hidden scenarios are the children a run
// starts.
func run(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return errors.New("bench: name a scenario")
	}
	if isHelp(args[0]) || args[0] == "help" {
		fmt.Fprint(e.stdout, usage) // asked for: stdout, so "| less" works
		return nil
	}
	name, rest := args[0], args[1:]
	switch name {
	case "ceiling-server":
		return serveCeiling(ctx, e, rest)
	case "connections-child":
		return connectionsChild(ctx, e, rest)
	}
	sc := newScenario(name)
	if sc == nil {
		fmt.Fprint(e.stderr, usage)
		return fmt.Errorf("bench: unknown scenario %q", name)
	}
	fs := flag.NewFlagSet("sselog bench "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	for _, a := range rest {
		if isHelp(a) {
			fs.SetOutput(e.stdout) // asked for: stdout
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sselog bench %s [flags]\n\nFlags:\n", name)
		var b strings.Builder
		out := fs.Output()
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(out)
		fmt.Fprint(out, strings.ReplaceAll("\n"+b.String(), "\n  -", "\n  --")[1:])
	}
	var c common
	c.register(fs, e.getenv)
	sc.register(fs)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("bench %s: %w", name, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench %s: unexpected arguments %q", name, fs.Args())
	}
	if err := sc.check(); err != nil {
		return fmt.Errorf("bench %s: %w", name, err)
	}
	explicitURL := false
	fs.Visit(func(f *flag.Flag) { explicitURL = explicitURL || f.Name == "url" })
	return runScenario(ctx, e, &c, name, sc, explicitURL)
}

// isHelp reports whether arg asks for help, as the flag package reads it.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "--h"
}

// common holds the flags every scenario shares.
type common struct {
	url         string
	spawn       bool
	ceiling     bool
	json        bool
	pubKey      string
	subSecret   string
	serverFlags multiFlag
	timeout     time.Duration
	ring        int
}

func (c *common) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "server to drive (loopback only)")
	fs.BoolVar(&c.spawn, "spawn", false, "start the real server itself (this executable's serve, a fresh data file in a temp dir, a free port)")
	fs.BoolVar(&c.ceiling, "ceiling", false, "also run against the built-in no-op server, for comparison; alone, run only against it")
	fs.BoolVar(&c.json, "json", false, "print one JSON object instead of the table")
	fs.StringVar(&c.pubKey, "publisher-key", getenv("SSELOG_PUBLISHER_KEY"), "publisher key for a server with auth (env SSELOG_PUBLISHER_KEY)")
	fs.StringVar(&c.subSecret, "subscriber-secret", getenv("SSELOG_SUBSCRIBER_SECRET"), "subscriber secret, to mint tokens (env SSELOG_SUBSCRIBER_SECRET)")
	fs.Var(&c.serverFlags, "server-flag", "extra flag for the spawned server, repeatable (e.g. --server-flag=--pprof=127.0.0.1:6060)")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Minute, "bound on the whole run")
	fs.IntVar(&c.ring, "ceiling-ring", 1<<20, "events the ceiling keeps in memory for replay")
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, " ") }

func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}

// scenario is one load pattern.
type scenario interface {
	register(fs *flag.FlagSet)
	check() error
	// describe is a one-line summary of the parameters, for the table.
	describe() string
	params() map[string]any
	run(ctx context.Context, t *target) (*result, error)
}

func newScenario(name string) scenario {
	switch name {
	case "publish":
		return &publishScenario{}
	case "fanout":
		return &fanoutScenario{}
	case "resume":
		return &resumeScenario{}
	case "connections":
		return &connScenario{}
	}
	return nil
}

// runScenario runs sc against the server, the ceiling or both, in that
// order, each target started just before its run and stopped after it.
func runScenario(ctx context.Context, e env, c *common, name string, sc scenario, explicitURL bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if lim, err := raiseNoFile(); err != nil {
		fmt.Fprintf(e.stderr, "bench: %v (open files: %d)\n", err, lim)
	}
	var kinds []string
	if c.spawn || explicitURL || !c.ceiling {
		kinds = append(kinds, "server")
	}
	if c.ceiling {
		kinds = append(kinds, "ceiling")
	}
	rep := report{Scenario: name, Describe: sc.describe(), Params: sc.params()}
	runs := 1
	if r, ok := sc.(repeated); ok {
		runs = r.runs()
	}
	// Several runs alternate the targets (server, ceiling, server, ...),
	// each against a fresh process, so drifting load on the machine hits
	// both alike.
	perKind := make([][]*result, len(kinds))
	var runErr error
runs:
	for run := range runs {
		for i, kind := range kinds {
			t, err := startTarget(ctx, e, c, kind, uint32(run*len(kinds)+i)<<22)
			if err != nil {
				runErr = err
				break runs
			}
			fmt.Fprintf(e.stderr, "bench %s: %s at %s (run %d of %d)\n", rep.Scenario, kind, t.base, run+1, runs)
			res, err := sc.run(ctx, t)
			t.stop()
			if err != nil {
				runErr = fmt.Errorf("bench %s against %s: %w", rep.Scenario, kind, err)
				break runs
			}
			res.Target, res.URL = kind, t.base.String()
			perKind[i] = append(perKind[i], res)
		}
	}
	for _, rs := range perKind {
		if len(rs) == 1 {
			rep.Results = append(rep.Results, rs[0])
		} else if len(rs) > 1 {
			rep.Results = append(rep.Results, combineRuns(sc.(repeated), rs))
		}
	}
	if runs > 1 && runErr == nil {
		runsNote(&rep, sc.(repeated), perKind)
	}
	if f, ok := sc.(interface{ finish(*report) }); ok && runErr == nil {
		f.finish(&rep)
	}
	if len(rep.Results) > 0 {
		if err := rep.print(e.stdout, c.json); err != nil {
			return err
		}
	}
	if runErr != nil {
		return runErr
	}
	if f := rep.failures(); len(f) > 0 {
		return fmt.Errorf("bench %s failed: %s", rep.Scenario, strings.Join(f, "; "))
	}
	return nil
}
