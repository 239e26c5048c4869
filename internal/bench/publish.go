package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// publishScenario measures acknowledged publishes: N keep-alive
// publishers, each sending its next request as soon as the last is
// answered, until M events are acknowledged.
type publishScenario struct {
	publishers int
	events     int
	size       int
	batch      int
	users      int
}

func (s *publishScenario) register(fs *flag.FlagSet) {
	fs.IntVar(&s.publishers, "publishers", 64, "concurrent keep-alive publishers")
	fs.IntVar(&s.events, "events", 50000, "events to publish in total")
	fs.IntVar(&s.size, "size", 200, "bytes of JSON data per event")
	fs.IntVar(&s.batch, "batch", 1, "events per request; above 1, through POST /v1/events")
	fs.IntVar(&s.users, "users", 100, "users the events are spread over round-robin (0 = broadcast)")
}

func (s *publishScenario) check() error {
	switch {
	case s.publishers < 1 || s.publishers > 10000:
		return errors.New("--publishers must be 1..10000")
	case s.events < 1 || s.events > 100_000_000:
		return errors.New("--events must be 1..100000000")
	case s.size < 0 || s.size > 60<<10:
		return errors.New("--size must be 0..61440")
	case s.batch < 1 || s.batch > 10000:
		return errors.New("--batch must be 1..10000")
	case s.users < 0:
		return errors.New("--users must be ≥ 0")
	}
	return nil
}

func (s *publishScenario) describe() string {
	how := "one event per request"
	if s.batch > 1 {
		how = fmt.Sprintf("batches of %d through POST /v1/events", s.batch)
	}
	return fmt.Sprintf("%d publishers, %d events of %d B, %s, %s", s.publishers, s.events, s.size, how, usersText(s.users))
}

func usersText(users int) string {
	if users == 0 {
		return "all broadcast"
	}
	return fmt.Sprintf("over %d users", users)
}

func (s *publishScenario) params() map[string]any {
	return map[string]any{"publishers": s.publishers, "events": s.events, "size": s.size, "batch": s.batch, "users": s.users}
}

// path and body for the request starting at event seq.
func (s *publishScenario) request(buf []byte, seq, n int64) (string, []byte) {
	now := time.Now().UnixNano()
	if s.batch > 1 {
		buf = append(buf, '[')
		for i := range n {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendEvent(buf, benchUser(s.users, seq+i), now, seq+i, s.size)
		}
		return "/v1/events", append(buf, ']')
	}
	return publishPath(benchUser(s.users, seq)), appendEvent(buf, "", now, seq, s.size)
}

// benchUser is the user event seq goes to, "" for broadcast.
func benchUser(users int, seq int64) string {
	if users == 0 {
		return ""
	}
	return "bench-" + strconv.FormatInt(seq%int64(users), 10)
}

func publishPath(user string) string {
	if user == "" {
		return "/v1/broadcast"
	}
	return "/v1/users/" + url.PathEscape(user) + "/events"
}

// one reports whether the run is the single-publisher latency case, which
// is measured against its floor.
func (s *publishScenario) one() bool { return s.publishers == 1 && s.batch == 1 }

func (s *publishScenario) finish(rep *report) {
	if s.one() {
		floorNote(rep)
	}
}

func (s *publishScenario) run(ctx context.Context, t *target) (*result, error) {
	var bare *Histogram
	if s.one() {
		var err error
		if bare, err = bareCommit(s.size); err != nil {
			return nil, err
		}
	}
	cpu0, cpuOK := processCPU(t.pid)
	self0, selfOK := processCPU(os.Getpid())
	d := s.drive(ctx, t)
	cpu1, _ := processCPU(t.pid)
	self1, _ := processCPU(os.Getpid())
	r := &result{}
	r.add("events_per_s", "events/s acked", rate(d.acked, d.elapsed), unitRate)
	r.add("requests_per_s", "requests/s", rate(d.requests, d.elapsed), unitRate)
	r.addLatency("ack", "ack latency", &d.lat)
	if cpuOK && t.pid != 0 && d.acked > 0 {
		// What an event costs the server process, user and system time,
		// its background work included (10 ms ticks: use long runs).
		r.add("cpu_us_per_event", "server CPU per event", float64((cpu1-cpu0).Microseconds())/float64(d.acked), unitUs)
		if selfOK {
			// The load client shares the cores: what it costs, and how
			// much of the machine both kept busy. A ceiling that keeps
			// every core busy is CPU-bound; a server that leaves some
			// idle is waiting, here for its disk.
			client := self1 - self0
			r.add("client_cpu_us_per_event", "load client CPU per event", float64(client.Microseconds())/float64(d.acked), unitUs)
			r.add("cores_busy", "cores busy, server + client", float64(cpu1-cpu0+client)/float64(d.elapsed), unitCores)
		}
	}
	if bare != nil {
		r.add("bare_commit_p50_ms", "bare bbolt commit p50", ms(bare.Percentile(50)), unitMs)
	}
	if s.one() && t.kind == "ceiling" {
		// The floor measured whole: the ceiling committing each publish
		// as one bare transaction before it answers. An fsync in the
		// request path costs more than the sum of the two p50s says.
		ft, err := startTarget(ctx, t.env, t.common, "floor", t.dial.base+1<<21)
		if err != nil {
			return nil, err
		}
		fcpu0, fcpuOK := processCPU(ft.pid)
		fd := s.drive(ctx, ft)
		fcpu1, _ := processCPU(ft.pid)
		ft.stop()
		if fd.errs.count() > 0 {
			return nil, fmt.Errorf("floor server: %d requests failed, first: %s", fd.errs.count(), fd.errs.String())
		}
		r.add("floor_p50_ms", "ceiling + bare commit per request, p50", ms(fd.lat.Percentile(50)), unitMs)
		if fcpuOK && fd.acked > 0 {
			r.add("floor_cpu_us_per_event", "ceiling + bare commit, CPU per event", float64((fcpu1-fcpu0).Microseconds())/float64(fd.acked), unitUs)
		}
	}
	r.add("acked", "events acked", float64(d.acked), unitCount)
	r.add("errors", "failed requests", float64(d.errs.count()), unitCount)
	if d.acked != int64(s.events) {
		r.fail("%d of %d events acknowledged; %d requests failed, first: %s", d.acked, s.events, d.errs.count(), d.errs.String())
	}
	return r, nil
}

// driven is what one publish run against one target measured.
type driven struct {
	acked, requests int64
	lat             Histogram
	errs            errSample
	elapsed         time.Duration
}

// drive runs the publishers against t until every event is acknowledged
// or too many requests failed.
func (s *publishScenario) drive(ctx context.Context, t *target) *driven {
	client := httpClient(t.dial, s.publishers)
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		d               driven
		next            atomic.Int64
		acked, requests atomic.Int64
		total           = int64(s.events)
	)
	start := time.Now()
	stop := progress(ctx, t.env.stderr, "publish "+t.kind, func() string {
		return fmt.Sprintf("acked %d/%d (%.0f/s), errors %d", acked.Load(), total, rate(acked.Load(), time.Since(start)), d.errs.count())
	})
	var wg sync.WaitGroup
	for range s.publishers {
		wg.Go(func() {
			var buf []byte
			for ctx.Err() == nil {
				seq := next.Add(int64(s.batch)) - int64(s.batch)
				if seq >= total {
					return
				}
				n := min(int64(s.batch), total-seq)
				path, body := s.request(buf[:0], seq, n)
				buf = body
				t0 := time.Now()
				err := t.post(ctx, client, path, body, s.answer(n))
				d.lat.Record(time.Since(t0))
				requests.Add(1)
				if err != nil {
					d.errs.add(err)
					if d.errs.count() >= 100 {
						cancel() // the server is not taking this load: stop, and say why
					}
					continue
				}
				acked.Add(n)
			}
		})
	}
	wg.Wait()
	d.elapsed = time.Since(start)
	stop()
	d.acked, d.requests = acked.Load(), requests.Load()
	return &d
}

// answer returns what a 201 must decode into: one id, or one id per
// event of a batch.
func (s *publishScenario) answer(n int64) any {
	if s.batch > 1 {
		return &idsAnswer{want: int(n)}
	}
	return &idAnswer{}
}

// idAnswer fails to decode without an id.
type idAnswer struct {
	ID string `json:"id"`
}

func (a *idAnswer) UnmarshalJSON(b []byte) error {
	var in struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in.ID == "" {
		return errors.New("no id in the answer")
	}
	a.ID = in.ID
	return nil
}

// idsAnswer fails to decode unless it holds want ids, so a short batch
// answer counts as an error.
type idsAnswer struct {
	IDs  []string `json:"ids"`
	want int
}

func (a *idsAnswer) UnmarshalJSON(b []byte) error {
	var in struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if len(in.IDs) != a.want {
		return fmt.Errorf("%d ids for %d events", len(in.IDs), a.want)
	}
	a.IDs = in.IDs
	return nil
}
