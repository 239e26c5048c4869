package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// connScenario measures what idle subscribers cost the server: it opens
// S streams (from several processes when one process may not hold that
// many open files), holds them, and reads the server's RSS before and
// after.
type connScenario struct {
	subs     int
	procs    int
	parallel int
	hold     time.Duration
}

func (s *connScenario) register(fs *flag.FlagSet) {
	fs.IntVar(&s.subs, "subs", 1000, "idle subscribers to hold open")
	fs.IntVar(&s.procs, "procs", 1, "client processes the subscribers are spread over (each needs an open file per subscriber)")
	fs.IntVar(&s.parallel, "connect-parallel", 64, "subscribers connecting at once, over all processes")
	fs.DurationVar(&s.hold, "hold", 10*time.Second, "how long to hold them once all are open")
}

func (s *connScenario) check() error {
	switch {
	case s.subs < 1 || s.subs > 1_000_000:
		return errors.New("--subs must be 1..1000000")
	case s.procs < 1 || s.procs > 64:
		return errors.New("--procs must be 1..64")
	case s.parallel < s.procs || s.parallel > 10000:
		return errors.New("--connect-parallel must be procs..10000")
	case s.hold < 0 || s.hold > time.Hour:
		return errors.New("--hold must be 0..1h")
	}
	lim, err := raiseNoFile()
	if err != nil {
		return err
	}
	if need := uint64((s.subs+s.procs-1)/s.procs + 128); need > lim {
		return fmt.Errorf("%d subscribers per process need about %d open files, the limit is %d: raise --procs", (s.subs+s.procs-1)/s.procs, need, lim)
	}
	return nil
}

func (s *connScenario) describe() string {
	return fmt.Sprintf("%d idle subscribers from %d process(es), held %s", s.subs, s.procs, s.hold)
}

func (s *connScenario) params() map[string]any {
	return map[string]any{"subs": s.subs, "procs": s.procs, "hold": s.hold.String()}
}

// shard is one group of held subscribers, in this process or a child.
type shard struct {
	opened, failed, dropped atomic.Int64
	ready                   chan struct{}
	done                    chan holdMsg
	release                 func()
}

func (s *connScenario) run(ctx context.Context, t *target) (*result, error) {
	rss0, err := t.rss(ctx)
	if err != nil {
		return nil, err
	}
	shards := make([]*shard, s.procs)
	for k := range shards {
		first, n := k*s.subs/s.procs, (k+1)*s.subs/s.procs-k*s.subs/s.procs
		par := s.parallel / s.procs
		if s.procs == 1 {
			shards[k] = s.local(ctx, t, first, n, par)
			continue
		}
		sh, err := s.child(ctx, t, k, first, n, par)
		if err != nil {
			releaseAll(shards[:k])
			return nil, err
		}
		shards[k] = sh
	}
	sum := func(f func(*shard) int64) (n int64) {
		for _, sh := range shards {
			n += f(sh)
		}
		return n
	}
	phase := atomic.Value{}
	phase.Store("opening")
	stop := progress(ctx, t.env.stderr, "connections "+t.kind, func() string {
		return fmt.Sprintf("%s: open %d/%d, failed %d, dropped %d", phase.Load(),
			sum(func(sh *shard) int64 { return sh.opened.Load() }), s.subs,
			sum(func(sh *shard) int64 { return sh.failed.Load() }), sum(func(sh *shard) int64 { return sh.dropped.Load() }))
	})
	defer stop()
	for _, sh := range shards {
		select {
		case <-sh.ready:
		case <-ctx.Done():
			releaseAll(shards)
			return nil, ctx.Err()
		}
	}
	phase.Store("holding")
	sleepUntil(ctx, time.Now().Add(s.hold))
	rss1, err := t.rss(ctx)
	if err != nil {
		releaseAll(shards)
		return nil, err
	}
	phase.Store("closing")
	msgs := releaseAll(shards)
	stop()
	return s.report(rss0, rss1, msgs), nil
}

// releaseAll releases every shard and collects the final reports, for at
// most 30 s.
func releaseAll(shards []*shard) []holdMsg {
	for _, sh := range shards {
		sh.release()
	}
	var out []holdMsg
	deadline := time.After(30 * time.Second)
	for i, sh := range shards {
		select {
		case m := <-sh.done:
			out = append(out, m)
		case <-deadline:
			out = append(out, holdMsg{Errors: fmt.Sprintf("process %d sent no report", i)})
		}
	}
	return out
}

func (s *connScenario) report(rss0, rss1 int64, msgs []holdMsg) *result {
	var total holdMsg
	var setup Histogram
	var errs []string
	for _, m := range msgs {
		total.Opened += m.Opened
		total.Failed += m.Failed
		total.Dropped += m.Dropped
		total.Heartbeats += m.Heartbeats
		if m.FirstDial > 0 && (total.FirstDial == 0 || m.FirstDial < total.FirstDial) {
			total.FirstDial = m.FirstDial
		}
		total.LastOpen = max(total.LastOpen, m.LastOpen)
		if m.Setup != nil {
			setup.Merge(m.Setup)
		}
		if m.Errors != "" {
			errs = append(errs, m.Errors)
		}
	}
	r := &result{}
	open := total.Opened - total.Dropped
	r.add("subscribers", "subscribers held", float64(open), unitCount)
	r.add("setup_per_s", "setup rate", rate(total.Opened, time.Duration(total.LastOpen-total.FirstDial)), unitRate)
	r.addLatency("setup", "setup (dial to connected)", &setup)
	r.add("rss_before_mib", "server RSS before", float64(rss0)/(1<<20), unitMiB)
	r.add("rss_after_mib", "server RSS held", float64(rss1)/(1<<20), unitMiB)
	perConn := 0.0
	if open > 0 {
		perConn = float64(rss1-rss0) / float64(open) / 1024
	}
	r.add("rss_per_conn_kib", "server RSS per subscriber", perConn, unitKiB)
	r.add("heartbeats", "heartbeats received", float64(total.Heartbeats), unitCount)
	r.add("errors", "failed + dropped", float64(total.Failed+total.Dropped), unitCount)
	if total.Failed > 0 || total.Dropped > 0 || total.Opened < int64(s.subs) {
		r.fail("%d of %d subscribers opened, %d failed, %d dropped while held: %v",
			total.Opened, s.subs, total.Failed, total.Dropped, errs)
	}
	return r
}

// local holds a shard in this process.
func (s *connScenario) local(ctx context.Context, t *target, first, n, parallel int) *shard {
	h := &holder{base: t.base, dial: t.dial, tokens: t.tokens}
	sh := &shard{ready: make(chan struct{}), done: make(chan holdMsg, 1)}
	released := make(chan struct{})
	var once sync.Once
	sh.release = func() { once.Do(func() { close(released) }) }
	go func() {
		stopMirror := mirror(ctx, h, sh)
		h.open(ctx, first, n, parallel)
		close(sh.ready)
		select {
		case <-released:
		case <-ctx.Done():
		}
		h.release()
		stopMirror()
		sh.done <- h.state("done")
	}()
	return sh
}

// mirror copies a local holder's counts into its shard until stopped.
func mirror(ctx context.Context, h *holder, sh *shard) (stop func()) {
	return progressFunc(ctx, 200*time.Millisecond, func() {
		sh.opened.Store(h.opened.Load())
		sh.failed.Store(h.failed.Load())
		sh.dropped.Store(h.dropped.Load())
	})
}

// progressFunc calls f every d until stopped, and once more at stop.
func progressFunc(ctx context.Context, d time.Duration, f func()) (stop func()) {
	stopTicks := every(ctx, d, f)
	return func() { stopTicks(); f() }
}

// child holds a shard in a child process: this tool re-executed with the
// hidden connections-child scenario, which reports JSON lines on stdout
// and releases when its stdin closes.
func (s *connScenario) child(ctx context.Context, t *target, k, first, n, parallel int) (*shard, error) {
	cmd := t.env.self(ctx, "connections-child",
		"--url", t.base.String(), "--first", strconv.Itoa(first), "--subs", strconv.Itoa(n),
		"--connect-parallel", strconv.Itoa(max(parallel, 1)),
		"--dial-base", strconv.FormatUint(uint64(t.dial.base)+uint64(k+1)<<18, 10),
		"--timeout", (s.hold + 10*time.Minute).String())
	cmd.Env = append(cmd.Environ(), "SSELOG_SUBSCRIBER_SECRET="+string(t.tokens.secret))
	cmd.Stderr = t.env.stderr
	dieWithParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("connections process %d: %w", k, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("connections process %d: %w", k, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("connections process %d: %w", k, err)
	}
	sh := &shard{ready: make(chan struct{}), done: make(chan holdMsg, 1)}
	var once sync.Once
	sh.release = func() { once.Do(func() { _ = stdin.Close() }) }
	go func() {
		final := follow(stdout, sh)
		if err := cmd.Wait(); err != nil && final.Errors == "" {
			final.Errors = fmt.Sprintf("process %d: %v", k, err)
		}
		sh.done <- final
	}()
	return sh, nil
}

// follow reads a child's JSON lines into its shard and returns the done
// message (or one saying the child died without it).
func follow(r io.Reader, sh *shard) holdMsg {
	readyOnce := sync.OnceFunc(func() { close(sh.ready) })
	defer readyOnce() // a dead child must not leave the parent waiting
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m holdMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue // not ours: a stray line
		}
		sh.opened.Store(m.Opened)
		sh.failed.Store(m.Failed)
		sh.dropped.Store(m.Dropped)
		switch m.Kind {
		case "ready":
			readyOnce()
		case "done":
			_, _ = io.Copy(io.Discard, r)
			return m
		}
	}
	return holdMsg{Kind: "done", Opened: sh.opened.Load(), Failed: sh.failed.Load(), Dropped: sh.dropped.Load(),
		Errors: "process ended without a report"}
}

// connectionsChild is the hidden connections-child scenario.
func connectionsChild(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("sselog bench connections-child", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	rawURL := fs.String("url", "", "server")
	first := fs.Int("first", 0, "number of the first subscriber")
	n := fs.Int("subs", 0, "subscribers to hold")
	parallel := fs.Int("connect-parallel", 16, "subscribers connecting at once")
	dialBase := fs.Uint64("dial-base", 0, "first source address index")
	timeout := fs.Duration("timeout", 15*time.Minute, "bound on the whole run")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("connections child: %w", err)
	}
	u, err := checkTarget(*rawURL)
	if err != nil {
		return fmt.Errorf("connections child: %w", err)
	}
	if _, err := raiseNoFile(); err != nil {
		fmt.Fprintf(e.stderr, "connections child: %v\n", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	h := &holder{base: u, dial: &dialer{base: uint32(*dialBase)}, tokens: tokens{[]byte(e.getenv("SSELOG_SUBSCRIBER_SECRET"))}}
	var outMu sync.Mutex
	enc := json.NewEncoder(e.stdout)
	send := func(m holdMsg) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = enc.Encode(m)
	}
	stopProgress := progressFunc(ctx, 250*time.Millisecond, func() { send(h.state("progress")) })
	h.open(ctx, *first, *n, max(*parallel, 1))
	send(h.state("ready"))
	released := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(released) }()
	select {
	case <-released:
	case <-ctx.Done():
	}
	h.release()
	stopProgress()
	send(h.state("done"))
	return nil
}
