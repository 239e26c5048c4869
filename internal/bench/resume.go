package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// resumeScenario measures catch-up: it fills one user's log with E
// events, then C clients each resume from a random point (?lastEventId=)
// and read to the newest event, checking every id against what was
// acknowledged.
type resumeScenario struct {
	events       int
	clients      int
	parallel     int
	size         int
	fillBatch    int
	fillParallel int
	read         int
	seed         uint64
	user         string
}

func (s *resumeScenario) register(fs *flag.FlagSet) {
	fs.IntVar(&s.events, "events", 100000, "events in the log before the clients resume")
	fs.IntVar(&s.clients, "clients", 10, "clients resuming, each from its own random point")
	fs.IntVar(&s.parallel, "parallel", 1, "clients replaying at once (1 measures time to first event on a quiet server)")
	fs.IntVar(&s.size, "size", 200, "bytes of JSON data per event")
	fs.IntVar(&s.fillBatch, "fill-batch", 1000, "events per batch request while filling")
	fs.IntVar(&s.fillParallel, "fill-parallel", 4, "batch requests in flight while filling")
	fs.IntVar(&s.read, "read", 0, "events each client reads before it leaves (0 = to the newest); a small value measures time to first event over many clients cheaply")
	fs.Uint64Var(&s.seed, "seed", 1, "seed for the resume points")
	fs.StringVar(&s.user, "user", "", "user to fill (default: a fresh name per run)")
}

func (s *resumeScenario) check() error {
	switch {
	case s.events < 2 || s.events > 50_000_000:
		return errors.New("--events must be 2..50000000")
	case s.clients < 1 || s.clients > 100_000:
		return errors.New("--clients must be 1..100000")
	case s.parallel < 1 || s.parallel > 10000:
		return errors.New("--parallel must be 1..10000")
	case s.size < 0 || s.size > 60<<10:
		return errors.New("--size must be 0..61440")
	case s.fillBatch < 1 || s.fillBatch*(s.size+80) > 1<<20:
		return errors.New("--fill-batch × (--size + 80) must fit the 1 MiB batch body")
	case s.fillParallel < 1 || s.fillParallel > 256:
		return errors.New("--fill-parallel must be 1..256")
	case s.read < 0:
		return errors.New("--read must be ≥ 0")
	}
	return nil
}

func (s *resumeScenario) describe() string {
	reads := "reading to the newest"
	if s.read > 0 {
		reads = fmt.Sprintf("reading %d events each", s.read)
	}
	return fmt.Sprintf("%d clients (%d at once) resuming from random points in a log of %d events of %d B, %s",
		s.clients, s.parallel, s.events, s.size, reads)
}

func (s *resumeScenario) params() map[string]any {
	return map[string]any{"events": s.events, "clients": s.clients, "parallel": s.parallel, "size": s.size, "read": s.read, "seed": s.seed}
}

func (s *resumeScenario) run(ctx context.Context, t *target) (*result, error) {
	user := s.user
	if user == "" {
		user = "resume-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	fillStart := time.Now()
	ids, err := s.fill(ctx, t, user)
	if err != nil {
		return nil, err
	}
	fillTime := time.Since(fillStart)

	var (
		ttfe     Histogram
		replayed atomic.Int64
		done     atomic.Int64
		next     atomic.Int64
		mu       sync.Mutex
		rates    []float64
		errs     errSample
	)
	rng := rand.New(rand.NewPCG(s.seed, 0))
	points := make([]int, s.clients)
	for i := range points {
		points[i] = rng.IntN(len(ids) - 1)
	}
	start := time.Now()
	stop := progress(ctx, t.env.stderr, "resume "+t.kind, func() string {
		return fmt.Sprintf("clients done %d/%d, replayed %d (%.0f/s), time to first event p50 %.2f ms",
			done.Load(), s.clients, replayed.Load(), rate(replayed.Load(), time.Since(start)), ms(ttfe.Percentile(50)))
	})
	var wg sync.WaitGroup
	for range s.parallel {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(s.clients) && ctx.Err() == nil; i = next.Add(1) - 1 {
				n, d, err := s.client(ctx, t, user, ids, points[i], &ttfe, &replayed)
				done.Add(1)
				if err != nil {
					errs.add(fmt.Errorf("client %d from event %d: %w", i, points[i], err))
					continue
				}
				mu.Lock()
				rates = append(rates, rate(n, d))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()

	r := &result{}
	r.add("log_events", "events in the log", float64(len(ids)), unitCount)
	r.add("fill_per_s", "fill events/s (batch)", rate(int64(len(ids)), fillTime), unitRate)
	r.add("clients", "clients resumed", float64(len(rates)), unitCount)
	r.addLatency("first_event", "time to first event", &ttfe)
	r.add("replayed", "events replayed", float64(replayed.Load()), unitCount)
	r.add("replay_per_s", "replay events/s, all streams", rate(replayed.Load(), elapsed), unitRate)
	r.add("replay_per_s_stream_p50", "replay events/s, one stream (median)", median(rates), unitRate)
	if n := errs.count(); n > 0 {
		r.fail("%d of %d clients failed, first: %s", n, s.clients, errs.String())
	}
	return r, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[(len(v)-1)/2]
}

// fill publishes s.events events for user through the batch route and
// returns their ids in id order.
func (s *resumeScenario) fill(ctx context.Context, t *target, user string) ([]string, error) {
	client := httpClient(t.dial, s.fillParallel)
	defer client.CloseIdleConnections()
	ids := make([]string, s.events)
	var next, acked atomic.Int64
	var errs errSample
	start := time.Now()
	stop := progress(ctx, t.env.stderr, "resume "+t.kind, func() string {
		return fmt.Sprintf("filling %d/%d (%.0f/s)", acked.Load(), s.events, rate(acked.Load(), time.Since(start)))
	})
	defer stop()
	var wg sync.WaitGroup
	for range s.fillParallel {
		wg.Go(func() {
			var buf []byte
			batch := int64(s.fillBatch)
			for first := next.Add(batch) - batch; first < int64(s.events) && ctx.Err() == nil && errs.count() == 0; first = next.Add(batch) - batch {
				n := min(batch, int64(s.events)-first)
				now := time.Now().UnixNano()
				buf = append(buf[:0], '[')
				for i := range n {
					if i > 0 {
						buf = append(buf, ',')
					}
					buf = appendEvent(buf, user, now, first+i, s.size)
				}
				buf = append(buf, ']')
				ans := &idsAnswer{want: int(n)}
				if err := t.post(ctx, client, "/v1/events", buf, ans); err != nil {
					errs.add(err)
					return
				}
				copy(ids[first:], ans.IDs)
				acked.Add(n)
			}
		})
	}
	wg.Wait()
	if errs.count() > 0 {
		return nil, fmt.Errorf("fill the log: %s", errs.String())
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fill the log: %w", err)
	}
	slices.Sort(ids) // batches commit in any order; ids sort as they were issued
	return ids, nil
}

// client resumes after ids[from] and reads to the newest event (or
// --read events), checking each id; it returns how many it read and how
// long it took from dialing.
func (s *resumeScenario) client(ctx context.Context, t *target, user string, ids []string, from int,
	ttfe *Histogram, replayed *atomic.Int64) (int64, time.Duration, error) {
	tok, err := t.tokens.For(user)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	c, err := openStream(ctx, t.dial, streamReq{base: t.base, user: user, lastID: ids[from], token: tok, bufSize: 64 << 10})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	if err := c.expectConnected(); err != nil {
		return 0, 0, err
	}
	want := ids[from+1:]
	if s.read > 0 && len(want) > s.read {
		want = want[:s.read]
	}
	reported := 0
	for i := 0; i < len(want); {
		if i%1024 == 0 {
			_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a stalled replay fails, not hangs
		}
		m, err := c.Next()
		if err != nil {
			return int64(i), 0, fmt.Errorf("after %d of %d events: %w", i, len(want), err)
		}
		switch m.Event {
		case eventName:
		case "gap":
			return int64(i), 0, fmt.Errorf("%w: %s (does the server cap events per user? start it with --max-events 0)", errGap, m.Data)
		default:
			continue
		}
		if i == 0 {
			ttfe.Record(time.Since(t0))
		}
		if m.ID != want[i] {
			return int64(i), 0, fmt.Errorf("event %d of the replay has id %s, want %s", i, m.ID, want[i])
		}
		i++
		if i%256 == 0 || i == len(want) {
			replayed.Add(int64(i - reported))
			reported = i
		}
	}
	return int64(len(want)), time.Since(t0), nil
}
