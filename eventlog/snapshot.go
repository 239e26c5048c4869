package eventlog

import (
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Snapshot writes a consistent copy of the whole file to w while appends
// go on. It holds one read transaction for the duration of the copy.
func (l *Log) Snapshot(w io.Writer) (int64, error) {
	return l.SnapshotSized(w, nil)
}

// SnapshotSized is Snapshot, calling begin with the snapshot's exact size
// before the first byte is written (an HTTP handler sets Content-Length
// there). An error from begin aborts the snapshot.
func (l *Log) SnapshotSized(w io.Writer, begin func(size int64) error) (int64, error) {
	var n int64
	err := l.db.View(func(tx *bolt.Tx) error {
		if begin != nil {
			if err := begin(tx.Size()); err != nil {
				return err
			}
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("snapshot %s: %w", l.path, closedErr(err))
	}
	return n, nil
}
