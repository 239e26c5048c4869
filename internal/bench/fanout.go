package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// fanoutScenario measures delivery: S subscribers on the live tail and
// publishers holding a fixed rate R for a duration D. The publish time
// travels in each event's data, so every delivery gives one
// publish-to-receive latency; every subscriber's stream is checked
// against what was acknowledged for it.
type fanoutScenario struct {
	subs            int
	users           int
	rate            int
	duration        time.Duration
	drain           time.Duration
	size            int
	publishers      int
	connectParallel int
	subsPerUser     int
	repeat          int
}

func (s *fanoutScenario) register(fs *flag.FlagSet) {
	fs.IntVar(&s.subs, "subs", 1000, "subscribers")
	fs.IntVar(&s.users, "users", 0, "users the subscribers and events are spread over (0 = every subscriber its own user, every event a broadcast)")
	fs.IntVar(&s.rate, "rate", 20, "events published per second")
	fs.DurationVar(&s.duration, "duration", 10*time.Second, "how long to publish")
	fs.DurationVar(&s.drain, "drain", 10*time.Second, "how long to wait after the last publish for deliveries to arrive")
	fs.IntVar(&s.size, "size", 200, "bytes of JSON data per event")
	fs.IntVar(&s.publishers, "publishers", 8, "publishes in flight at most, so a slow ack does not slow the rate")
	fs.IntVar(&s.connectParallel, "connect-parallel", 64, "subscribers connecting at once")
	fs.IntVar(&s.subsPerUser, "subs-per-user", 1, "with every event a broadcast (--users 0): subscribers sharing each user, as tabs of one person do")
	fs.IntVar(&s.repeat, "runs", 1, "runs per target, alternating targets, each against a fresh process: the table gives medians, the p99 of the best and the worst run, and the server/ceiling ratio of every run")
}

func (s *fanoutScenario) runs() int                 { return s.repeat }
func (s *fanoutScenario) sameKeys() map[string]bool { return map[string]bool{"subscribers": true} }
func (s *fanoutScenario) spreadKeys() []string      { return []string{"latency_p99_ms"} }

func (s *fanoutScenario) check() error {
	switch {
	case s.subs < 1 || s.subs > 100_000:
		return errors.New("--subs must be 1..100000")
	case s.users < 0 || s.users > s.subs:
		return errors.New("--users must be 0..subs")
	case s.rate < 1 || s.rate > 1_000_000:
		return errors.New("--rate must be 1..1000000")
	case s.duration <= 0 || s.duration > time.Hour:
		return errors.New("--duration must be in (0, 1h]")
	case s.total() < 1 || s.total() > 10_000_000:
		return errors.New("--rate × --duration must be 1..10000000 events")
	case s.drain <= 0 || s.drain > 10*time.Minute:
		return errors.New("--drain must be in (0, 10m]")
	case s.size < 0 || s.size > 60<<10:
		return errors.New("--size must be 0..61440")
	case s.publishers < 1 || s.publishers > 1000:
		return errors.New("--publishers must be 1..1000")
	case s.connectParallel < 1 || s.connectParallel > 10000:
		return errors.New("--connect-parallel must be 1..10000")
	case s.subsPerUser < 1 || s.subsPerUser > s.subs:
		return errors.New("--subs-per-user must be 1..subs")
	case s.subsPerUser > 1 && s.users > 0:
		return errors.New("--subs-per-user goes with broadcasts (--users 0); --users already spreads subscribers over users")
	case s.repeat < 1 || s.repeat > 100:
		return errors.New("--runs must be 1..100")
	}
	return nil
}

func (s *fanoutScenario) total() int64 { return int64(float64(s.rate) * s.duration.Seconds()) }

func (s *fanoutScenario) describe() string {
	d := fmt.Sprintf("%d subscribers, %s, %d events/s for %s (%d events of %d B)",
		s.subs, usersText(s.users), s.rate, s.duration, s.total(), s.size)
	if s.subsPerUser > 1 {
		d += fmt.Sprintf(", %d subscribers per user", s.subsPerUser)
	}
	if s.repeat > 1 {
		d += fmt.Sprintf(", %d runs", s.repeat)
	}
	return d
}

func (s *fanoutScenario) params() map[string]any {
	return map[string]any{"subs": s.subs, "users": s.users, "rate": s.rate, "duration": s.duration.String(), "size": s.size,
		"subs_per_user": s.subsPerUser, "runs": s.repeat}
}

// subUser is subscriber j's user; eventUser is where event k goes ("" =
// broadcast). With users > 0, subscriber j and event k meet when
// j%users == k%users.
func (s *fanoutScenario) subUser(j int) string {
	if s.users == 0 {
		return "fan-sub-" + strconv.Itoa(j/max(s.subsPerUser, 1))
	}
	return "fan-" + strconv.Itoa(j%s.users)
}

func (s *fanoutScenario) eventUser(k int64) string {
	if s.users == 0 {
		return ""
	}
	return "fan-" + strconv.FormatInt(k%int64(s.users), 10)
}

func (s *fanoutScenario) meant(k int64, j int) bool {
	return s.users == 0 || k%int64(s.users) == int64(j%s.users)
}

// fanout is one run's shared state.
type fanout struct {
	*fanoutScenario
	t            *target
	subs         []*fanSub
	status       []uint8 // per event: 0 not sent, 1 acknowledged, 2 failed
	lat          Histogram
	ack          Histogram // publish request to its answer
	delivered    atomic.Int64
	lastDelivery atomic.Int64
	connected    atomic.Int64
	published    atomic.Int64
	closing      atomic.Bool
	readers      sync.WaitGroup
	pubErrs      errSample
}

const (
	statusAcked  = 1
	statusFailed = 2
)

func (s *fanoutScenario) run(ctx context.Context, t *target) (*result, error) {
	f := &fanout{fanoutScenario: s, t: t, subs: make([]*fanSub, s.subs), status: make([]uint8, s.total())}
	subCtx, cancelSubs := context.WithCancel(ctx)
	defer func() { f.closing.Store(true); cancelSubs(); f.readers.Wait() }()
	phase := atomic.Value{}
	phase.Store("connecting")
	stop := progress(ctx, t.env.stderr, "fanout "+t.kind, func() string {
		return fmt.Sprintf("%s: subscribers %d/%d, published %d/%d, delivered %d, p99 %.1f ms",
			phase.Load(), f.connected.Load(), s.subs, f.published.Load(), s.total(), f.delivered.Load(), ms(f.lat.Percentile(99)))
	})
	defer stop()

	connStart := time.Now()
	if err := f.connect(subCtx); err != nil {
		return nil, err
	}
	connTime := time.Since(connStart)
	phase.Store("publishing")
	cpu0, cpuOK := processCPU(t.pid)
	pubStart := time.Now()
	f.publish(ctx)
	pubTime := time.Since(pubStart)
	phase.Store("draining")
	want := f.expected()
	drained := f.waitDelivered(ctx, want)
	cpu1, _ := processCPU(t.pid)
	f.closing.Store(true)
	cancelSubs()
	f.readers.Wait()
	stop()

	r := &result{}
	acked := f.count(statusAcked)
	deliveryTime := time.Duration(f.lastDelivery.Load() - pubStart.UnixNano())
	r.add("subscribers", "subscribers", float64(s.subs), unitCount)
	r.add("connect_per_s", "subscribers connected/s", rate(int64(s.subs), connTime), unitRate)
	r.add("published", "events published", float64(acked), unitCount)
	r.add("publish_per_s", "publish rate", rate(acked, pubTime), unitRate)
	r.add("delivered", "deliveries", float64(f.delivered.Load()), unitCount)
	r.add("delivered_per_s", "deliveries/s", rate(f.delivered.Load(), deliveryTime), unitRate)
	if cpuOK && t.pid != 0 && f.delivered.Load() > 0 {
		// Publishing and delivering, heartbeats and background work
		// included, over the deliveries made.
		r.add("cpu_us_per_delivery", "server CPU per delivery", float64((cpu1-cpu0).Microseconds())/float64(f.delivered.Load()), unitUs)
	}
	// The ack is a publish's round trip: the server's commit against the
	// ceiling's answer from memory, both answered while the deliveries
	// the previous publish woke compete for the CPU.
	r.addLatency("ack", "publish ack", &f.ack)
	r.addLatency("latency", "publish→receive", &f.lat)
	f.verify(r, want, drained)
	return r, nil
}

// connect opens every subscriber and waits for its connected event, so
// nothing is published before all of them are on the tail.
func (f *fanout) connect(ctx context.Context) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, f.connectParallel)
	for range f.connectParallel {
		wg.Go(func() {
			for j := int(next.Add(1) - 1); j < f.fanoutScenario.subs && ctx.Err() == nil; j = int(next.Add(1) - 1) {
				if err := f.open(ctx, j); err != nil {
					errc <- fmt.Errorf("subscriber %d: %w", j, err)
					return
				}
				f.connected.Add(1)
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
}

func (f *fanout) open(ctx context.Context, j int) error {
	user := f.subUser(j)
	tok, err := f.t.tokens.For(user)
	if err != nil {
		return err
	}
	c, err := openStream(ctx, f.t.dial, streamReq{base: f.t.base, user: user, token: tok, bufSize: 4096})
	if err != nil {
		return err
	}
	if err := c.expectConnected(); err != nil {
		c.Close()
		return err
	}
	sub := &fanSub{conn: c, seen: make([]uint64, (len(f.status)+63)/64)}
	f.subs[j] = sub
	f.readers.Go(func() { f.read(sub) })
	return nil
}

// publish sends event k at start + k/rate from a pool of publishers,
// stamping the send time into the data.
func (f *fanout) publish(ctx context.Context) {
	client := httpClient(f.t.dial, f.publishers)
	defer client.CloseIdleConnections()
	total := int64(len(f.status))
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range f.publishers {
		wg.Go(func() {
			var buf []byte
			for k := next.Add(1) - 1; k < total; k = next.Add(1) - 1 {
				if !sleepUntil(ctx, start.Add(time.Duration(k)*time.Second/time.Duration(f.rate))) {
					return
				}
				sent := time.Now()
				buf = appendEvent(buf[:0], "", sent.UnixNano(), k, f.size)
				if err := f.t.post(ctx, client, publishPath(f.eventUser(k)), buf, &idAnswer{}); err != nil {
					f.status[k] = statusFailed
					f.pubErrs.add(err)
					continue
				}
				f.ack.Record(time.Since(sent))
				f.status[k] = statusAcked
				f.published.Add(1)
			}
		})
	}
	wg.Wait()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// receivers is how many subscribers event k is meant for.
func (f *fanout) receivers(k int64) int64 {
	if f.users == 0 {
		return int64(f.fanoutScenario.subs)
	}
	n := int64(f.fanoutScenario.subs / f.users)
	if k%int64(f.users) < int64(f.fanoutScenario.subs%f.users) {
		n++
	}
	return n
}

// expected is the number of deliveries the acknowledged events call for.
func (f *fanout) expected() int64 {
	var n int64
	for k, st := range f.status {
		if st == statusAcked {
			n += f.receivers(int64(k))
		}
	}
	return n
}

// waitDelivered waits until want deliveries arrived, or --drain passed.
func (f *fanout) waitDelivered(ctx context.Context, want int64) bool {
	deadline := time.Now().Add(f.drain)
	for f.delivered.Load() < want {
		if time.Now().After(deadline) || !sleepUntil(ctx, time.Now().Add(10*time.Millisecond)) {
			return false
		}
	}
	return true
}

func (f *fanout) count(st uint8) int64 {
	var n int64
	for _, s := range f.status {
		if s == st {
			n++
		}
	}
	return n
}
