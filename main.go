// Command sselog is a durable Server-Sent Events server: apps publish
// events for a user over HTTP, browsers subscribe with EventSource, and
// every event is committed to one bbolt file before it is acknowledged, so
// a subscriber that drops resumes exactly after the last event it saw.
//
// Run "sselog --help" (or "sselog help") for the subcommands and the
// server's options, "sselog <command> --help" for a command's flags.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sselog/sselog/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore the default action: a second one
	// ends the process at once instead of waiting on a slow shutdown.
	go func() { <-ctx.Done(); stop() }()
	if err := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sselog:", err)
		os.Exit(1)
	}
}
