package eventlog

import (
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Verify runs bbolt's page-level consistency check on a data file that no
// process has open, read-only: the file is not touched. A backup tool calls
// it on a downloaded snapshot; tests call it on every file they close.
func Verify(path string) error {
	// bbolt would create a missing file, even read-only.
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	// bbolt trusts the file; a damaged one must not end this process.
	if err := lockedPrecheck(path); err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("verify %s: consistency check: %w", path, err)
	}
	return nil
}
