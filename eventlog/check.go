package eventlog

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CheckReport is what Check found.
type CheckReport struct {
	Records int // event records read (filed and in the journal)
	Damaged int // of those, records that failed to decode or their checksum
}

// Check verifies a data file no process has open, read-only: its page
// structure (bounds-checked before bbolt maps it), bbolt's consistency
// check, then every stored event record. A file with damaged records is an
// error wrapping ErrDamaged; the report says how many.
func Check(path string) (CheckReport, error) {
	var rep CheckReport
	if err := Verify(path); err != nil {
		return rep, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return rep, fmt.Errorf("check %s: %w", path, err)
	}
	defer db.Close()
	var first error
	note := func(where string, k []byte, err error) {
		rep.Damaged++
		if first == nil {
			first = fmt.Errorf("%s %x: %w", where, k, err)
		}
	}
	err = db.View(func(tx *bolt.Tx) error {
		scan := func(where string, b *bolt.Bucket, journal bool) error {
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				if v == nil {
					return nil // a nested bucket
				}
				rep.Records++
				rec := v
				if journal {
					var err error
					if _, rec, err = splitJournal(v); err != nil {
						note(where, k, err)
						return nil
					}
				}
				if _, err := decodeEvent(k, rec); err != nil {
					note(where, k, err)
				}
				return nil
			})
		}
		if err := scan("broadcast", tx.Bucket(bucketBroadcast), false); err != nil {
			return err
		}
		if err := scan("journal", tx.Bucket(bucketJournal), true); err != nil {
			return err
		}
		users := tx.Bucket(bucketUsers)
		if users == nil {
			return nil
		}
		return users.ForEachBucket(func(name []byte) error {
			return scan(fmt.Sprintf("user %q", name), users.Bucket(name), false)
		})
	})
	if err != nil {
		return rep, fmt.Errorf("check %s: %w", path, err)
	}
	if rep.Damaged > 0 {
		return rep, fmt.Errorf("check %s: %w: %d of %d records damaged; first: %w", path, ErrDamaged, rep.Damaged, rep.Records, first)
	}
	return rep, nil
}
