package stream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sselog/sselog/eventlog"
)

// Hub.Wait and the log's Close racing publishers and streams that are
// replaying, live, or connecting: every detached stream ends in time and
// every client sees its stream end.
func TestHubAndLogCloseRaceStreams(t *testing.T) {
	for run := range 10 {
		ts := newServer(t, eventlog.Options{TailSize: 16, MaxEvents: 20, MoveDelay: time.Millisecond, CompactInterval: time.Millisecond, PageBytes: 100}, Options{})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for p := range 3 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := ts.log.Append(context.Background(), eventlog.Input{User: fmt.Sprint("u", (p+i)%3), Data: []byte(`1`)}); err != nil {
						return
					}
				}
			})
		}
		var cwg sync.WaitGroup
		for i := range 12 {
			cwg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := ts.dial(fmt.Sprint("u", i%3), eventlog.ZeroID.String(), "")
					if err != nil {
						return
					}
					ended := make(chan struct{})
					go func() {
						defer close(ended)
						for range c.C() {
						}
					}()
					select {
					case <-ended:
						c.Close()
						return // the server ended it
					case <-time.After(time.Duration(rand.IntN(20)) * time.Millisecond):
						c.Close()
						<-ended
					case <-stop:
						select {
						case <-ended:
						case <-time.After(10 * time.Second):
							t.Errorf("run %d: a stream did not end after Hub.Wait", run)
						}
						c.Close()
						return
					}
				}
			})
		}
		time.Sleep(time.Duration(10+rand.IntN(40)) * time.Millisecond) // load before the shutdown (not synchronisation)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := ts.hub.Wait(ctx); err != nil {
			t.Fatalf("run %d: hub.Wait: %v", run, err)
		}
		cancel()
		close(stop)
		if err := ts.log.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); cwg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatalf("run %d: publishers or clients stuck", run)
		}
	}
}
