//go:build !unix

package cli

import (
	"fmt"
	"os"
)

// lockStoreDir: without flock, only the directory is made.
func lockStoreDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("JetStream store %s: %w", dir, err)
	}
	return nil, nil
}
