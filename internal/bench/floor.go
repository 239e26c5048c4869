package bench

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bareCommits is how many bare bbolt commits measure the floor.
const bareCommits = 300

// bareCommit measures what one fsync'd bbolt transaction costs on the disk
// the spawned server writes to (the system temp directory): one Put of a
// value of size bytes per transaction, with the options eventlog opens its
// file with. With one publisher, an acknowledged publish cannot be faster
// than one HTTP round trip (the ceiling's) plus this.
func bareCommit(size int) (*Histogram, error) {
	dir, err := os.MkdirTemp("", "sselog-bench-floor-*")
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	defer os.RemoveAll(dir)
	db, err := openBare(filepath.Join(dir, "bare.db"))
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	defer db.Close()
	val := make([]byte, size)
	var h Histogram
	for i := range bareCommits {
		t0 := time.Now()
		if err := commitBare(db, uint64(i), val); err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		h.Record(time.Since(t0))
	}
	return &h, nil
}

// openBare opens a bbolt file with the options eventlog opens its own with.
func openBare(path string) (*bolt.DB, error) {
	return bolt.Open(path, 0o600, &bolt.Options{
		Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
	})
}

// commitBare is the bare transaction: one Put of val, fsync'd.
func commitBare(db *bolt.DB, seq uint64, val []byte) error {
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("events"))
		if err != nil {
			return err
		}
		b.FillPercent = 1
		return b.Put(binary.BigEndian.AppendUint64(nil, seq), val)
	})
	if err != nil {
		return fmt.Errorf("bare commit: %w", err)
	}
	return nil
}

// floorNote says how far one publisher's ack p50 is from its floor: the
// ceiling's p50 (the HTTP round trip) plus a bare bbolt commit's, measured
// in the server's run.
func floorNote(rep *report) {
	if len(rep.Results) != 2 {
		return
	}
	get := func(r *result, key string) (float64, bool) {
		for _, m := range r.Metrics {
			if m.Key == key {
				return m.Value, true
			}
		}
		return 0, false
	}
	server, ceiling := rep.Results[0], rep.Results[1]
	p50, ok1 := get(server, "ack_p50_ms")
	round, ok2 := get(ceiling, "ack_p50_ms")
	commit, ok3 := get(server, "bare_commit_p50_ms")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	floor := round + commit
	rep.Notes = append(rep.Notes, fmt.Sprintf(
		"floor: ceiling ack p50 %.3f ms + bare bbolt commit p50 %.3f ms = %.3f ms; server ack p50 %.3f ms = floor %+.3f ms (%.2f× the floor)",
		round, commit, floor, p50, p50-floor, p50/floor))
	rep.Floor = map[string]float64{"floor_ms": floor, "server_p50_ms": p50, "over_ms": p50 - floor}
	if whole, ok := get(ceiling, "floor_p50_ms"); ok {
		rep.Notes = append(rep.Notes, fmt.Sprintf(
			"floor measured whole: the ceiling committing each publish (one bare bbolt transaction) answers at p50 %.3f ms; server ack p50 %.3f ms = %.2f× that",
			whole, p50, p50/whole))
		rep.Floor["whole_floor_ms"] = whole
	}
	floorCPU, ok1 := get(ceiling, "floor_cpu_us_per_event")
	serverCPU, ok2 := get(server, "cpu_us_per_event")
	if ok1 && ok2 {
		rep.Notes = append(rep.Notes, fmt.Sprintf(
			"CPU per event: server %.0f µs, the floor's server %.0f µs", serverCPU, floorCPU))
	}
}
