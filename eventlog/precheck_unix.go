//go:build unix

package eventlog

import (
	"errors"
	"os"
	"syscall"
)

// lockedPrecheck runs precheck while holding the file's lock, so that it
// never reads a file another process is writing. A file locked by another
// process is left to bbolt, which reports the lock.
func lockedPrecheck(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil
		}
		return err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it anyway
	return precheck(path)
}
