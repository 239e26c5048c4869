package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

// The subscribers of these benchmarks live in a child process (this test
// binary re-run with benchEnv set, see TestBenchClient): 10,000 loopback
// connections need 20,000 descriptors in one process, and the cap here is
// 20,000. It also keeps the client's memory out of the server's figures.
const benchEnv = "SSELOG_STREAM_BENCH_CLIENT"

// benchServer is a real log, hub and handler behind a real HTTP server.
func benchServer(b *testing.B, cache bool) *testServer {
	b.Helper()
	ts := newServer(b, eventlog.Options{}, Options{})
	if !cache {
		ts.h.frames = nil
	}
	return ts
}

// benchClients starts the child process holding n subscribers of user
// (mode "fanout": read until an "end" event and report; "idle": hold the
// streams until stdin closes) and waits until all are connected.
func benchClients(b *testing.B, ts *testServer, mode string, n int) (results *bufio.Reader, stop func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchClient$", "-test.count=1", "-test.timeout=30m")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,%d", benchEnv, mode, ts.srv.Listener.Addr(), n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop = func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}
	b.Cleanup(stop)
	out := bufio.NewReader(stdout)
	line, err := readLine(out, 5*time.Minute)
	if err != nil || line != "ready" {
		b.Fatalf("child client: %q, %v", line, err)
	}
	deadline := time.Now().Add(time.Minute)
	for ts.hub.Stats().Subscribers < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscribers connected", ts.hub.Stats().Subscribers, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return out, stop
}

func readLine(r *bufio.Reader, d time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() { s, err := r.ReadString('\n'); ch <- res{strings.TrimSpace(s), err} }()
	select {
	case x := <-ch:
		return x.s, x.err
	case <-time.After(d):
		return "", fmt.Errorf("no line within %v", d)
	}
}

// fanoutResult is what the child reports after the "end" event.
type fanoutResult struct {
	Delivered int64 // events received, all subscribers together
	LastTick  int64 // Unix ns of the last "tick" received
	// Publish-to-receive latency in ms: of "probe" events sent one at a
	// time (the fan-out time of one event), and of "tick" events sent
	// flat out (queueing under saturation).
	P50, P99             float64
	LoadedP50, LoadedP99 float64
	Errors               int64
}

// probes is how many isolated events measure the fan-out latency.
const probes = 30

// BenchmarkFanout publishes broadcasts from one publisher (sequential
// Appends, each durable) to live subscribers over loopback HTTP. First
// flat out, for delivered events/s (each op is one publish); then one
// probe at a time, each sent once the server has written the previous to
// every subscriber, for the latency of fanning one event out.
// cache=off formats each frame per subscriber instead of sharing it.
// detach=off serves every stream on net/http's goroutines, as before
// streams were detached.
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{1000, 10000} {
		for _, cache := range []bool{true, false} {
			name := fmt.Sprintf("subs=%d/cache=%s", subs, map[bool]string{true: "on", false: "off"}[cache])
			b.Run(name, func(b *testing.B) { benchFanout(b, subs, cache, true) })
		}
		b.Run(fmt.Sprintf("subs=%d/detach=off", subs), func(b *testing.B) { benchFanout(b, subs, true, false) })
	}
}

func benchFanout(b *testing.B, subs int, cache, detach bool) {
	ts := benchServer(b, cache)
	ts.h.noDetach = !detach
	out, _ := benchClients(b, ts, "fanout", subs)
	pad := strings.Repeat("x", 120) // the size of a typical notification
	publish := func(name string) {
		data := fmt.Appendf(nil, `{"t":%d,"pad":%q}`, time.Now().UnixNano(), pad)
		if _, err := ts.log.Append(context.Background(), eventlog.Input{Name: name, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	written := func(events int) {
		deadline := time.Now().Add(5 * time.Minute)
		for ts.hub.Stats().Delivered < uint64(events*subs) {
			if time.Now().After(deadline) {
				b.Fatalf("server wrote %d of %d", ts.hub.Stats().Delivered, events*subs)
			}
			time.Sleep(time.Millisecond)
		}
	}
	start := time.Now()
	ticks := 0
	b.ReportAllocs()
	for b.Loop() {
		publish("tick")
		ticks++
	}
	publishFor := time.Since(start)
	written(ticks)
	for i := range probes {
		publish("probe")
		written(ticks + i + 1)
	}
	ts.append(b, "", "end", `0`)
	line, err := readLine(out, 10*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	var r fanoutResult
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		b.Fatalf("child result %q: %v", line, err)
	}
	if want := int64(ticks+probes) * int64(subs); r.Delivered != want || r.Errors != 0 {
		b.Fatalf("delivered %d of %d events, %d errors", r.Delivered, want, r.Errors)
	}
	b.ReportMetric(float64(ticks*subs)/time.Unix(0, r.LastTick).Sub(start).Seconds(), "delivered/s")
	b.ReportMetric(float64(ticks)/publishFor.Seconds(), "published/s")
	b.ReportMetric(r.P50, "p50-ms")
	b.ReportMetric(r.P99, "p99-ms")
	b.ReportMetric(r.LoadedP99, "loaded-p99-ms")
}

// BenchmarkReplay streams 1,000,000 logged events to one subscriber that
// resumes from before all of them.
func BenchmarkReplay(b *testing.B) {
	const total = 1_000_000
	ts := benchServer(b, true)
	batch := make([]eventlog.Input, 10000)
	for i := 0; i < total; i += len(batch) {
		for j := range batch {
			user := "alice"
			if j%4 == 0 {
				user = "" // a quarter are broadcasts, merged in
			}
			batch[j] = eventlog.Input{User: user, Name: "n", Data: fmt.Appendf(nil, `{"seq":%d,"text":"replayed event"}`, i+j)}
		}
		if _, err := ts.log.AppendBatch(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	var elapsed time.Duration
	runs := 0
	for b.Loop() {
		start := time.Now()
		c, err := ts.dial("alice", eventlog.ZeroID.String(), "")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for m := range c.Events() {
			if m.Event == "n" {
				n++
			}
			if n == total {
				break
			}
		}
		c.Close()
		if n != total {
			b.Fatalf("replayed %d of %d: %v", n, total, c.Err())
		}
		elapsed += time.Since(start)
		runs++
	}
	b.ReportMetric(float64(total*runs)/elapsed.Seconds(), "events/s")
}

// BenchmarkIdleMemory reports the server's memory per idle subscriber with
// 10,000 streams open.
func BenchmarkIdleMemory(b *testing.B) {
	const subs = 10000
	ts := benchServer(b, true)
	ts.append(b, "", "n", `1`)
	before := memNow()
	_, stop := benchClients(b, ts, "idle", subs)
	after := memNow()
	for b.Loop() {
		runtime.Gosched()
	}
	b.ReportMetric(float64(after.heap-before.heap)/subs, "heap-B/sub")
	b.ReportMetric(float64(after.stack-before.stack)/subs, "stack-B/sub")
	b.ReportMetric(float64(after.rss-before.rss)/subs, "rss-B/sub")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/subs, "goroutines/sub")
	stop()
}

type memSample struct{ heap, stack, rss, goroutines int64 }

func memNow() memSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{heap: int64(ms.HeapInuse), stack: int64(ms.StackInuse), goroutines: int64(runtime.NumGoroutine())}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			s.rss = pages * int64(os.Getpagesize())
		}
	}
	return s
}

// TestBenchClient is the child side of the benchmarks; it does nothing in
// a normal test run.
func TestBenchClient(t *testing.T) {
	spec := os.Getenv(benchEnv)
	if spec == "" {
		t.Skip("only run as a benchmark's child process")
	}
	parts := strings.Split(spec, ",")
	n, _ := strconv.Atoi(parts[2])
	runBenchClient(t, parts[0], parts[1], n)
}

func runBenchClient(t *testing.T, mode, addr string, n int) {
	var (
		connected   sync.WaitGroup
		finished    sync.WaitGroup
		mu          sync.Mutex
		probe, tick []int64 // publish-to-receive, ns; merged in batches
		res         fanoutResult
	)
	dialSem := make(chan struct{}, 64)
	conns := make([]net.Conn, n)
	for i := range n {
		connected.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			dialSem <- struct{}{}
			c, p, err := benchDial(addr)
			<-dialSem
			connected.Done()
			if err != nil {
				mu.Lock()
				res.Errors++
				mu.Unlock()
				t.Log(err)
				return
			}
			conns[i] = c
			if mode == "fanout" {
				s := subStats{mu: &mu, probe: &probe, tick: &tick, res: &res}
				s.read(p)
			}
		}()
	}
	connected.Wait()
	fmt.Println("ready")
	if mode == "fanout" {
		finished.Wait()
		res.P50, res.P99 = percentileMS(probe, 0.50), percentileMS(probe, 0.99)
		res.LoadedP50, res.LoadedP99 = percentileMS(tick, 0.50), percentileMS(tick, 0.99)
		out, _ := json.Marshal(res)
		fmt.Println(string(out))
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent is done
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// subStats collects one subscriber's figures and merges them into the
// shared ones in batches.
type subStats struct {
	mu          *sync.Mutex
	probe, tick *[]int64
	res         *fanoutResult
	lp, lt      []int64
	count, last int64
}

func (s *subStats) read(p *sse.Parser) {
	defer s.flush()
	for {
		m, err := p.Next()
		now := time.Now().UnixNano()
		if err != nil || m.Event == "end" {
			return
		}
		i := strings.IndexByte(m.Data, ',')
		sent, err := strconv.ParseInt(strings.TrimPrefix(m.Data[:max(i, 0)], `{"t":`), 10, 64)
		if err != nil {
			continue
		}
		s.count++
		if m.Event == "probe" {
			s.lp = append(s.lp, now-sent)
		} else {
			s.lt = append(s.lt, now-sent)
			s.last = now
		}
		if len(s.lt) >= 64 {
			s.flush()
		}
	}
}

func (s *subStats) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.probe = append(*s.probe, s.lp...)
	*s.tick = append(*s.tick, s.lt...)
	s.res.Delivered += s.count
	s.res.LastTick = max(s.res.LastTick, s.last)
	s.lp, s.lt, s.count = s.lp[:0], s.lt[:0], 0
}

// benchDial opens a stream on a bare connection (no Transport goroutines)
// and reads up to the connected event.
func benchDial(addr string) (net.Conn, *sse.Parser, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/stream/bench", nil)
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	p := sse.NewParser(resp.Body)
	if m, err := p.Next(); err != nil || m.Event != "connected" {
		c.Close()
		return nil, nil, fmt.Errorf("first event %+v: %v", m, err)
	}
	return c, p, nil
}

func percentileMS(v []int64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return float64(v[int(q*float64(len(v)-1))]) / 1e6
}

// discardWriter is a ResponseWriter that flushes nowhere, to measure what
// a stream spends per event apart from the socket.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Flush()                      {}

// BenchmarkSendPage is the server's own cost of writing a page of 256
// notification-sized events to a subscriber, socket excluded: with the
// shared frame cache (every subscriber after the first finds the frames
// formatted) and with per-subscriber formatting.
func BenchmarkSendPage(b *testing.B) {
	gen := ulidSeq(b)
	page := make([]eventlog.Event, pageSize)
	for i := range page {
		page[i] = eventlog.Event{ID: gen(), Name: "notification", Data: fmt.Appendf(nil, `{"id":%d,"title":"New comment","body":"Someone replied to your post","url":"/posts/42#c7"}`, i)}
	}
	for _, cache := range []bool{true, false} {
		b.Run(fmt.Sprintf("cache=%v", cache), func(b *testing.B) {
			h := NewHandler(nil, NewHub(), Options{})
			if !cache {
				h.frames = nil
			}
			w := &discardWriter{h: http.Header{}}
			s := &session{h: h, out: httpSink{w, http.NewResponseController(w)}, sub: &subscriber{}, timer: time.NewTimer(time.Hour)}
			defer s.timer.Stop()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.send(nil, page); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(page)), "ns/event")
		})
	}
}

// BenchmarkFrame compares formatting an event's frame with taking it from
// the frame cache, which every subscriber after the first does.
func BenchmarkFrame(b *testing.B) {
	e := eventlog.Event{ID: eventlog.ZeroID, Name: "notification", Data: []byte(`{"id":42,"title":"New comment","body":"Someone replied to your post","url":"/posts/42#c7"}`)}
	b.Run("format", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = appendEvent(buf[:0], &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		var c frameCache
		for b.Loop() {
			if _, _, err := c.get(&e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
