package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

type stressGap struct {
	LastEventID, OldestID, ResumeFrom string
}

// Subscribers that keep dropping and resuming while publishers write and
// the mover and retention run every millisecond: each sees its events in
// order, once each across reconnects, and misses one only if retention
// deleted it and a gap after a point below it was told.
func TestStressStreamsMoverRetention(t *testing.T) {
	ts := newServer(t, eventlog.Options{TailSize: 16, MaxEvents: 10, BroadcastMaxEvents: 8, MoveDelay: time.Millisecond, CompactInterval: time.Millisecond, PageBytes: 100}, Options{})
	const users, subsPerUser, publishers, perPublisher = 3, 4, 4, 300
	type sub struct {
		user string
		got  []eventlog.ID
		gaps []stressGap
	}
	var subs []*sub
	// Subscribers resume from this id, never from the zero id (which
	// means "from the oldest retained", no gap for what went before).
	start := ts.append(t, "", "start", `0`)
	var swg sync.WaitGroup
	for i := range users * subsPerUser {
		s := &sub{user: fmt.Sprint("u", i%users)}
		subs = append(subs, s)
		swg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			last := start
			for {
				c, err := ts.dial(s.user, last.String(), "")
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				budget := rng.IntN(40)
				for n := 0; n <= budget; n++ {
					var m sse.Message
					var ok, timeout bool
					select {
					case m, ok = <-c.C():
					case <-time.After(20 * time.Second):
						timeout = true
					}
					if !ok || timeout {
						t.Errorf("%s: stream ended or stalled: %v", s.user, c.Err())
						c.Close()
						return
					}
					switch m.Event {
					case "connected":
					case "gap":
						var g stressGap
						_ = json.Unmarshal([]byte(m.Data), &g)
						s.gaps = append(s.gaps, g)
					default:
						id, err := eventlog.ParseID(m.ID)
						if err != nil {
							t.Errorf("bad id %q", m.ID)
							c.Close()
							return
						}
						if id.Compare(last) <= 0 {
							t.Errorf("%s: %s not after %s", s.user, id, last)
						}
						last = id
						s.got = append(s.got, id)
						if m.Event == "end" {
							c.Close()
							return
						}
					}
				}
				c.Close()
				time.Sleep(time.Duration(rng.IntN(30000)) * time.Microsecond) // lag (not synchronisation)
			}
		})
	}
	var mu sync.Mutex
	acked := map[string][]eventlog.ID{}
	var pwg sync.WaitGroup
	for p := range publishers {
		pwg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 9))
			for i := range perPublisher {
				u := ""
				if rng.IntN(5) != 0 {
					u = fmt.Sprint("u", rng.IntN(users))
				}
				id, err := ts.log.Append(context.Background(), eventlog.Input{User: u, Name: "n", Data: fmt.Appendf(nil, `{"p":%d,"i":%d}`, p, i)})
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				acked[u] = append(acked[u], id)
				mu.Unlock()
			}
		})
	}
	pwg.Wait()
	end := ts.append(t, "", "end", `"end"`)
	acked[""] = append(acked[""], end)
	done := make(chan struct{})
	go func() { swg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("subscribers did not finish")
	}
	t.Logf("deleted %d, gaps %d", ts.log.Counts().Deleted, ts.hub.Stats().Gaps)
	for _, s := range subs {
		held := map[eventlog.ID]bool{}
		p, err := ts.log.ReadAfter(s.user, eventlog.ZeroID, eventlog.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			held[e.ID] = true
		}
		seen := map[eventlog.ID]bool{}
		for _, id := range s.got {
			seen[id] = true
		}
		bad := 0
		for _, id := range append(append([]eventlog.ID{}, acked[s.user]...), acked[""]...) {
			if seen[id] {
				continue
			}
			told := false
			for _, g := range s.gaps {
				if from, err := eventlog.ParseID(g.LastEventID); err == nil && from.Compare(id) < 0 {
					told = true
				}
			}
			if held[id] || !told {
				if bad++; bad <= 3 {
					var near []eventlog.ID
					for k, g := range s.got {
						if g.Compare(id) > 0 {
							near = s.got[max(k-2, 0):min(k+2, len(s.got))]
							break
						}
					}
					t.Errorf("%s missed %s (held %v) first got %v near %v, gaps %+v", s.user, id, held[id], s.got[:min(3, len(s.got))], near, s.gaps[:min(2, len(s.gaps))])
				}
			}
		}
	}
}
