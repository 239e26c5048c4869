package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/sselog/sselog/eventlog"
)

// check verifies a data file offline: its page structure (bounds-checked
// first, so a damaged file is reported, not crashed on), bbolt's
// consistency check, and every stored record. It never writes the file.
func check(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	f := flag.NewFlagSet("check", flag.ContinueOnError)
	f.SetOutput(io.Discard) // help goes to stdout; an error is said once, by main
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: sselog check FILE\n\nVerify a data file offline (a backup, or the data file with the server stopped):\n"+
				"its page structure, bbolt's consistency check and every stored record's checksum. The file is not written.")
			return err
		}
		return fmt.Errorf("check: %w (see sselog check --help)", err)
	}
	if f.NArg() != 1 {
		return errors.New("check: want exactly one FILE")
	}
	path := f.Arg(0)
	rep, err := eventlog.Check(path)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%s: ok: %d records checked\n", path, rep.Records)
	return err
}
