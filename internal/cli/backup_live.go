//go:build unix

package cli

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// refuseLive refuses a backup destination that a running process holds
// open and locked, as a server holds its data file (bbolt takes an
// exclusive flock; a lock belongs to the file, so the file's other names,
// symlinks and hard links, are refused too). Renaming a snapshot over the
// live file would lose every publish acknowledged after it at the next
// restart.
func refuseLive(path string) error {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("backup: cannot check that %s is not a running server's data file: %w", path, err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("backup: %s is in use (locked by a running process: a server's live data file?); "+
			"write the backup to another file, then stop the server and move it into place", path)
	}
	if err != nil {
		return fmt.Errorf("backup: check lock on %s: %w", path, err)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return nil
}
