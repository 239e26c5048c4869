//go:build unix

package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockStoreDir takes an exclusive lock on dir (created if missing) for
// as long as the returned file stays open: nats-server does not lock its
// store directory, and two servers on one store write the same stream
// files.
func lockStoreDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("JetStream store %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "sselog.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("JetStream store %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("JetStream store %s is in use by another process: give each node its own --data (or --cluster-data)", dir)
		}
		return nil, fmt.Errorf("lock JetStream store %s: %w", dir, err)
	}
	return f, nil
}
