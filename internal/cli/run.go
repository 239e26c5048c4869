package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sselog/sselog/internal/bench"
)

// command is one subcommand: its arguments, the environment, where to
// print. ctx ends on SIGINT/SIGTERM.
type command func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// commands lists the subcommands, in the order "sselog help" shows them.
var commands = []struct {
	name, summary string
	run           command
}{
	{"serve", "run the server (the default)", serve},
	{"token", "print a subscriber token for a user", token},
	{"publish", "publish one event", publish},
	{"tail", "follow a user's stream, resuming from a saved id", tail},
	{"backup", "download a consistent snapshot of a running server's data file", backup},
	{"check", "verify a data file offline (structure and every record's checksum)", check},
	{"bench", "drive a running server (or a no-op ceiling) with load and report figures", benchCmd},
	{"version", "print the version", printVersion},
}

// Run is main without the process: tests call it directly. With no
// subcommand, or when the first argument is a flag, it serves.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 1 && isHelp(args[0]) {
		args = []string{"help"}
	}
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		// "sselog help", "sselog --help": the commands, then the flags of
		// the default one.
		usage(stdout)
		fmt.Fprintln(stdout)
		_, err := parseServeConfig([]string{"--help"}, getenv, stdout)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			return err
		}
		return nil
	}
	for _, c := range commands {
		if c.name == name {
			err := c.run(ctx, args, getenv, stdout, stderr)
			if errors.Is(err, flag.ErrHelp) {
				return nil // usage was printed
			}
			return err
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", name)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: sselog [command] [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"sselog <command> --help\" for a command's flags. A flag marked (env SSELOG_...) also reads\n"+
		"that environment variable; the flag wins.")
}

// isHelp reports whether arg asks for help, as the flag package reads it.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "--h":
		return true
	}
	return false
}

func benchCmd(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	return bench.Main(ctx, args, stdout, stderr)
}
