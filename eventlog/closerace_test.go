package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sselog/sselog/eventlog"
)

// Close racing appenders, readers waiting on Changed, the mover,
// retention and external Compact calls: everything ends, every
// acknowledged event is on disk after reopening (unless retention took
// it), and no goroutine of the log outlives Close.
func TestCloseRacesEverything(t *testing.T) {
	base := runtime.NumGoroutine()
	for run := range 20 {
		path := filepath.Join(t.TempDir(), "sselog.db")
		l, err := eventlog.Open(path, eventlog.Options{TailSize: 16, MoveDelay: time.Millisecond, CompactInterval: time.Millisecond, KeyExpiryInterval: time.Millisecond, MaxEvents: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		acked := map[eventlog.ID]string{}
		var wg sync.WaitGroup
		for a := range 6 {
			wg.Go(func() {
				for i := 0; ; i++ {
					u := fmt.Sprint("u", (a+i)%3)
					in := eventlog.Input{User: u, Data: jsonN(`%d`, i)}
					if i%4 == 0 {
						in.IdempotencyKey = fmt.Sprint("k", a, "-", i)
					}
					id, err := l.Append(context.Background(), in)
					if errors.Is(err, eventlog.ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("append: %v", err)
						return
					}
					mu.Lock()
					acked[id] = u
					mu.Unlock()
				}
			})
		}
		for r := range 6 {
			wg.Go(func() {
				u := fmt.Sprint("u", r%3)
				cur := eventlog.ZeroID
				for {
					c := l.Changed(u)
					p, err := l.ReadAfter(u, cur, 5)
					if errors.Is(err, eventlog.ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("read: %v", err)
						return
					}
					for _, e := range p.Events {
						if e.ID.Compare(cur) <= 0 {
							t.Errorf("out of order")
						}
						cur = e.ID
					}
					if len(p.Events) < 5 {
						<-c
					}
				}
			})
		}
		wg.Go(func() {
			for {
				if _, err := l.Compact(context.Background()); errors.Is(err, eventlog.ErrClosed) {
					return
				}
				if _, err := l.Stats(); err != nil {
					return
				}
			}
		})
		time.Sleep(time.Duration(5+rand.IntN(40)) * time.Millisecond) // let the load run a while before Close (not synchronisation)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("run %d: goroutines stuck after Close:\n%s", run, buf[:runtime.Stack(buf, true)])
		}
		l2, err := eventlog.Open(path, eventlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for u := range 3 {
			evs, _ := readAll(t, l2, fmt.Sprint("u", u), eventlog.ZeroID, eventlog.MaxLimit)
			have := map[eventlog.ID]bool{}
			for _, e := range evs {
				have[e.ID] = true
			}
			for id, au := range acked {
				if au == fmt.Sprint("u", u) && !have[id] && len(evs) > 0 && id.Compare(evs[0].ID) > 0 {
					t.Errorf("run %d: acked %s of %s lost", run, id, au)
				}
			}
		}
		l2.Close()
		checkFile(t, path)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines outlive Close (base %d):\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
