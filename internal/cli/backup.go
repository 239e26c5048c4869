package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
)

// backup downloads a running server's snapshot to FILE.tmp, syncs it,
// checks that it is a sound log, and only then renames it to FILE: a
// failed or cut backup never replaces a good one.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var base, key, out string
	var quiet bool
	f := newEnvFlags("backup", "Download a consistent snapshot of a running server's data file and verify it.\n"+
		"Restore by stopping the server and putting the file at its --data path.", getenv, stdout)
	f.String(&base, "url", "SSELOG_URL", defaultURL, urlUsage)
	f.Secret(&key, "publisher-key", "SSELOG_PUBLISHER_KEY", "publisher key (not needed in open mode)")
	f.String(&out, "o", "", "", "file to write (required); replaced only once the new copy is verified")
	f.Bool(&quiet, "quiet", "", "no progress bar (there is none unless stderr is a terminal)")
	if err := f.Parse(args); err != nil {
		return err
	}
	key = strings.TrimSpace(key) // as serve trims it
	if out == "" {
		return errors.New("backup: -o FILE is required")
	}
	if err := refuseLive(out); err != nil {
		return err
	}
	c, err := client.New(base, client.WithPublisherKey(key))
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	start := time.Now()
	if err := download(ctx, c, tmp, quiet || !isTerminal(stderr), stderr); err != nil {
		_ = os.Remove(tmp)
		return explainAuth(err, "backup", keyHint)
	}
	st, err := verifyBackup(tmp)
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := refuseLive(out); err != nil { // a server may have started on it meanwhile
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(filepath.Dir(out)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "backup %s: %d events (%d broadcasts) for %d users, newest %s, %d bytes in %s\n",
		out, st.Events, st.Broadcasts, st.Users, st.Newest, st.FileBytes, time.Since(start).Round(time.Millisecond))
	return err
}

// download streams the snapshot into path and syncs it.
func download(ctx context.Context, c *client.Client, path string, quiet bool, stderr io.Writer) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	bar := &progressBar{w: stderr, quiet: quiet}
	err = c.Backup(ctx, f, bar.update)
	bar.finish(err == nil)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}

// verifyBackup checks the downloaded file as "sselog check" does — its
// structure, bbolt's consistency check and every record's checksum —
// read-only, then opens a scratch copy with eventlog (Open writes) to
// count what it holds.
func verifyBackup(path string) (eventlog.Stats, error) {
	if _, err := eventlog.Check(path); err != nil {
		return eventlog.Stats{}, fmt.Errorf("verify backup: %w", err)
	}
	dir, err := os.MkdirTemp("", "sselog-verify-")
	if err != nil {
		return eventlog.Stats{}, fmt.Errorf("verify backup: %w", err)
	}
	defer os.RemoveAll(dir)
	scratch := filepath.Join(dir, "copy.db")
	if err := copyFile(path, scratch); err != nil {
		return eventlog.Stats{}, fmt.Errorf("verify backup: %w", err)
	}
	lg, err := eventlog.Open(scratch, eventlog.Options{})
	if err != nil {
		return eventlog.Stats{}, fmt.Errorf("verify backup %s: %w", path, err)
	}
	st, err := lg.Stats()
	if cerr := lg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return eventlog.Stats{}, fmt.Errorf("verify backup %s: %w", path, err)
	}
	st.FileBytes = fileSize(path)
	return st, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// humanBytes formats n with a binary unit: 512 B, 24.0 KiB, 13.1 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// isTerminal reports whether w is a terminal (a character device), where
// a progress bar redrawn with \r makes sense; in a pipe or a log file it
// is noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar draws "[#####.....]  52%  13.1 MiB of 25.2 MiB" on one terminal
// line, at most ten times a second.
type progressBar struct {
	w     io.Writer
	quiet bool
	last  time.Time
	drawn bool
}

func (p *progressBar) update(done, total int64) {
	if p.quiet || time.Since(p.last) < 100*time.Millisecond && done != total {
		return
	}
	p.last = time.Now()
	p.draw(done, total)
}

func (p *progressBar) draw(done, total int64) {
	const width = 30
	if total <= 0 {
		fmt.Fprintf(p.w, "\rbackup: %s", humanBytes(done))
	} else {
		n := int(done * width / total)
		fmt.Fprintf(p.w, "\rbackup: [%s%s] %3d%%  %s of %s ", strings.Repeat("#", n), strings.Repeat(".", width-n),
			done*100/total, humanBytes(done), humanBytes(total))
	}
	p.drawn = true
}

func (p *progressBar) finish(ok bool) {
	if p.drawn && !p.quiet {
		if !ok {
			fmt.Fprint(p.w, " failed")
		}
		fmt.Fprintln(p.w)
	}
}
