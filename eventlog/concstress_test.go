package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sselog/sselog/eventlog"
)

type gapRec struct{ after, through eventlog.ID }

type stressReader struct {
	user   string
	start  eventlog.ID
	seen   []eventlog.ID
	gaps   []gapRec
	cursor atomic.Pointer[eventlog.ID]
	// through is the last page's gap end (zero: none): a reader whose
	// remaining events all aged out stands below the target, told.
	through atomic.Pointer[eventlog.ID]
	err     error
}

// TestStressReadersMoverRetention: appenders, the mover, retention and
// tail eviction all run with tiny intervals while readers follow each
// user with small pages and Changed waits (never polling). Every reader
// must see every acknowledged event for it in order, once, unless a gap
// covering it was reported; and must reach the end without polling.
func TestStressReadersMoverRetention(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts eventlog.Options
	}{
		{"tail-cap", eventlog.Options{TailSize: 32, MaxEvents: 40, BroadcastMaxEvents: 30, MoveDelay: time.Millisecond, CompactInterval: time.Millisecond, PageBytes: 64}},
		{"file-cap", eventlog.Options{TailSize: -1, MaxEvents: 40, BroadcastMaxEvents: 30, MoveDelay: time.Millisecond, CompactInterval: time.Millisecond, PageBytes: 64}},
		{"tail-age", eventlog.Options{TailSize: 32, MaxAge: 15 * time.Millisecond, BroadcastMaxAge: 10 * time.Millisecond, MoveDelay: time.Millisecond, CompactInterval: time.Millisecond, PageBytes: 64}},
		{"file-age", eventlog.Options{TailSize: -1, MaxAge: 15 * time.Millisecond, BroadcastMaxAge: 10 * time.Millisecond, MoveDelay: time.Millisecond, CompactInterval: time.Millisecond}},
		{"tailbytes-group", eventlog.Options{TailSize: 1000, TailBytes: 2000, MaxGroup: 3, MaxEvents: 25, BroadcastMaxEvents: 15, MoveDelay: time.Millisecond, CompactInterval: 2 * time.Millisecond, PageBytes: 40}},
		{"tail-nocap", eventlog.Options{TailSize: 16, MoveDelay: time.Millisecond, CompactInterval: time.Millisecond}},
	} {
		t.Run(mode.name, func(t *testing.T) { stressOnce(t, mode.opts) })
	}
}

func stressOnce(t *testing.T, opts eventlog.Options) {
	l := openLog(t, opts)
	const users, appenders, perAppender, readersPerUser = 4, 6, 300, 3
	userName := func(i int) string { return fmt.Sprintf("u%d", i) }

	var ackMu sync.Mutex
	acked := map[string][]eventlog.ID{} // "" = broadcast

	stop := make(chan struct{})
	var rwg sync.WaitGroup
	var readers []*stressReader
	startReader := func(u string, start eventlog.ID, slow bool) {
		r := &stressReader{user: u, start: start}
		r.cursor.Store(&start)
		readers = append(readers, r)
		rwg.Go(func() {
			cur := start
			for {
				uc, bc := l.Changed(u), l.Changed("")
				p, err := l.ReadAfter(u, cur, 3)
				if err != nil {
					r.err = err
					return
				}
				if p.Unknown {
					r.err = fmt.Errorf("unknown resume point %s", cur)
					return
				}
				if p.Gap != nil {
					r.gaps = append(r.gaps, gapRec{cur, p.Gap.Through})
				}
				for _, e := range p.Events {
					if e.ID.Compare(cur) <= 0 {
						r.err = fmt.Errorf("event %s not after cursor %s", e.ID, cur)
						return
					}
					if e.User != u && e.User != "" {
						r.err = fmt.Errorf("event of %q", e.User)
						return
					}
					cur = e.ID
					r.seen = append(r.seen, e.ID)
				}
				th := eventlog.ZeroID
				if p.Gap != nil {
					th = p.Gap.Through
				}
				r.through.Store(&th)
				c := cur
				r.cursor.Store(&c)
				if slow {
					time.Sleep(time.Duration(1000+rand.IntN(4000)) * time.Microsecond) // lag behind retention (not synchronisation)
				}
				if len(p.Events) == 3 || p.Truncated {
					continue
				}
				select {
				case <-uc:
				case <-bc:
				case <-stop:
					return
				}
			}
		})
	}
	for u := range users {
		for k := range readersPerUser {
			switch k {
			case 0:
				startReader(userName(u), eventlog.ZeroID, false)
			case 1:
				startReader(userName(u), eventlog.ZeroID, true)
			default:
				startReader(userName(u), l.Last(), false)
			}
		}
	}
	var awg sync.WaitGroup
	for a := range appenders {
		awg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(a), 7))
			for i := range perAppender {
				var ins []eventlog.Input
				n := 1
				if rng.IntN(5) == 0 {
					n = 1 + rng.IntN(6)
				}
				for range n {
					u := ""
					if rng.IntN(6) != 0 {
						u = userName(rng.IntN(users))
					}
					ins = append(ins, eventlog.Input{User: u, Data: jsonN(`{"a":%d,"i":%d}`, a, i)})
				}
				if n == 1 && rng.IntN(4) == 0 {
					// keyed, and retried: one event, the first id
					ins[0].IdempotencyKey = fmt.Sprint("k", a, "-", i)
					id1, err := l.Append(context.Background(), ins[0])
					if err == nil {
						var id2 eventlog.ID
						if id2, err = l.Append(context.Background(), ins[0]); err == nil && id2 != id1 {
							t.Errorf("retry of a key: %s, first %s", id2, id1)
						}
					}
					if err != nil {
						t.Errorf("append: %v", err)
						return
					}
					ackMu.Lock()
					acked[ins[0].User] = append(acked[ins[0].User], id1)
					ackMu.Unlock()
					continue
				}
				ids, err := l.AppendBatch(context.Background(), ins)
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				ackMu.Lock()
				for j, in := range ins {
					acked[in.User] = append(acked[in.User], ids[j])
				}
				ackMu.Unlock()
			}
		})
	}
	awg.Wait()
	t.Logf("deleted %d", l.Counts().Deleted)
	last := l.Last()
	// every reader must reach last for it without polling
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range readers {
		target := eventlog.ZeroID
		for _, id := range append(append([]eventlog.ID{}, acked[r.user]...), acked[""]...) {
			if id.Compare(target) > 0 {
				target = id
			}
		}
		reached := func() bool {
			th := r.through.Load()
			return r.cursor.Load().Compare(target) >= 0 || (th != nil && th.Compare(target) >= 0)
		}
		for !reached() && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		if c := r.cursor.Load(); !reached() {
			t.Errorf("lost wake-up: reader of %s (start %s) stuck at %s, target %s (last %s)", r.user, r.start, c, target, last)
		}
	}
	close(stop)
	rwg.Wait()
	held := map[string]map[eventlog.ID]bool{}
	for u := range users {
		held[userName(u)] = map[eventlog.ID]bool{}
		evs, _ := readAll(t, l, userName(u), eventlog.ZeroID, eventlog.MaxLimit)
		for _, e := range evs {
			held[userName(u)][e.ID] = true
		}
	}
	for _, r := range readers {
		if r.err != nil && !errors.Is(r.err, eventlog.ErrClosed) {
			t.Errorf("reader of %s: %v", r.user, r.err)
			continue
		}
		seen := map[eventlog.ID]bool{}
		for _, id := range r.seen {
			if seen[id] {
				t.Errorf("reader of %s saw %s twice", r.user, id)
			}
			seen[id] = true
		}
		if testing.Verbose() {
			t.Logf("reader of %s: %d gaps, saw %d", r.user, len(r.gaps), len(r.seen))
		}
		missing := 0
		for _, id := range append(append([]eventlog.ID{}, acked[r.user]...), acked[""]...) {
			if id.Compare(r.start) <= 0 || seen[id] {
				continue
			}
			covered := false
			for _, g := range r.gaps {
				if g.after.Compare(id) < 0 && id.Compare(g.through) <= 0 {
					covered = true
				}
			}
			if covered && held[r.user][id] {
				t.Errorf("reader of %s (start %s) missed %s, still held, behind a gap; gaps %v", r.user, r.start, id, r.gaps)
			}
			if !covered {
				missing++
				if missing < 5 {
					t.Errorf("reader of %s (start %s) missed %s with no gap; gaps %v", r.user, r.start, id, r.gaps)
				}
			}
		}
	}
}
