package eventlog_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sselog/sselog/eventlog"
)

// payload is a 200-byte JSON object, the size the targets assume.
var payload = func() []byte {
	head := `{"type":"notification","title":"Build finished","body":"`
	tail := `"}`
	return []byte(head + strings.Repeat("x", 200-len(head)-len(tail)) + tail)
}()

// BenchmarkAppend measures single-event appends with fsync on. Events go
// to 1000 users unless the name says otherwise: every user touched by a
// commit costs that commit at least one page write, so the spread matters
// as much as the number of appenders (users=1 is the best case).
func BenchmarkAppend(b *testing.B) {
	if len(payload) != 200 {
		b.Fatalf("payload is %d bytes", len(payload))
	}
	for _, tc := range []struct {
		name       string
		par, users int
	}{
		{"parallel=1", 1, 1000},
		{"parallel=256", 256, 1000},
		{"parallel=256,users=1", 256, 1},
		{"parallel=256,users=100", 256, 100},
		{"parallel=64,users=100", 64, 100}, // sselog bench publish's layout
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := openLog(b, eventlog.Options{})
			ctx := context.Background()
			users := make([]string, tc.users)
			for i := range users {
				users[i] = fmt.Sprintf("user-%d", i)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			var wg sync.WaitGroup
			for range tc.par {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						in := eventlog.Input{User: users[i%int64(len(users))], Name: "notification", Data: payload}
						if _, err := l.Append(ctx, in); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/event")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system: with
// the mover and the fsyncs, what an event costs the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkAppendBatch(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			l := openLog(b, eventlog.Options{})
			ctx := context.Background()
			batch := make([]eventlog.Input, size)
			for i := range batch {
				batch[i] = eventlog.Input{User: fmt.Sprintf("user-%d", i%100), Name: "notification", Data: payload}
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, err := l.AppendBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkReadAfter is the time to the first event when a reader resumes
// in the middle of one user's history: a seek, so about the same at 10k
// and at 1M events.
func BenchmarkReadAfter(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("len=%s", short(n)), func(b *testing.B) {
			f := bigLog(b, n)
			// Resume points spread over the middle half of the history.
			var starts []int
			for i := len(f.ids) / 4; i < 3*len(f.ids)/4; i += len(f.ids) / 2 / 1024 {
				starts = append(starts, i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				at := starts[i%len(starts)]
				p, err := f.log.ReadAfter(f.user, f.ids[at], 1)
				if err != nil || len(p.Events) != 1 || p.Events[0].ID != f.ids[at+1] {
					b.Fatalf("read after %d: %v, %d events", at, err, len(p.Events))
				}
			}
		})
	}
}

// BenchmarkReplay reads a user's whole history (1M events and the
// broadcasts merged in) in pages of 1000, as a reconnecting client far
// behind would.
func BenchmarkReplay(b *testing.B) {
	f := bigLog(b, 1_000_000)
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	start := time.Now()
	read := 0
	for range b.N {
		n, cursor := 0, eventlog.ZeroID
		for {
			p, err := f.log.ReadAfter(f.user, cursor, 1000)
			if err != nil {
				b.Fatal(err)
			}
			if len(p.Events) == 0 {
				break
			}
			n += len(p.Events)
			cursor = p.Events[len(p.Events)-1].ID
		}
		if n != len(f.ids) {
			b.Fatalf("replayed %d events, want %d", n, len(f.ids))
		}
		read += n
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(read)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(read), "allocs/event")
}

// fixture is a log holding one user with n events and one broadcast per
// hundred, built once per process (a million events take a while).
type fixture struct {
	log  *eventlog.Log
	user string
	ids  []eventlog.ID // everything user reads, in order
}

var fixtures struct {
	mu   sync.Mutex
	dir  string
	logs map[int]*fixture
}

func bigLog(b *testing.B, n int) *fixture {
	b.Helper()
	fixtures.mu.Lock()
	defer fixtures.mu.Unlock()
	if f, ok := fixtures.logs[n]; ok {
		return f
	}
	if fixtures.dir == "" {
		dir, err := os.MkdirTemp("", "eventlog-bench-")
		if err != nil {
			b.Fatal(err)
		}
		fixtures.dir, fixtures.logs = dir, map[int]*fixture{}
	}
	start := time.Now()
	// The in-memory tail is off: a 10k history would fit in it, and the
	// point is to compare B+tree seeks at both lengths.
	l, err := eventlog.Open(filepath.Join(fixtures.dir, fmt.Sprintf("len%d.db", n)), eventlog.Options{TailSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{log: l, user: "big", ids: make([]eventlog.ID, 0, n+n/100)}
	batch := make([]eventlog.Input, 0, 10_000)
	flush := func() {
		ids, err := l.AppendBatch(context.Background(), batch)
		if err != nil {
			b.Fatal(err)
		}
		f.ids = append(f.ids, ids...)
		batch = batch[:0]
	}
	for i := range n {
		batch = append(batch, eventlog.Input{User: f.user, Name: "notification", Data: payload})
		if i%100 == 99 {
			batch = append(batch, eventlog.Input{Name: "announcement", Data: payload})
		}
		if len(batch) >= cap(batch)-1 {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	b.Logf("built a %s-event fixture in %v", short(n), time.Since(start).Round(time.Millisecond))
	fixtures.logs[n] = f
	return f
}

func removeFixtures() {
	for _, f := range fixtures.logs {
		_ = f.log.Close()
	}
	if fixtures.dir != "" {
		_ = os.RemoveAll(fixtures.dir)
	}
}

func short(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// BenchmarkBoltCommit is the floor under one appender: a bare bbolt
// transaction per event (one 200-byte Put into one bucket, fsync on), with
// the options the log opens its file with. Compare with
// BenchmarkAppend/parallel=1 in the same run.
func BenchmarkBoltCommit(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bare.db"), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		seq++
		if err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("events"))
			if err != nil {
				return err
			}
			bk.FillPercent = 1
			return bk.Put(binary.BigEndian.AppendUint64(nil, seq), payload)
		}); err != nil {
			b.Fatal(err)
		}
	}
}
