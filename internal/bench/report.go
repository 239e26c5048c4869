package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Units a metric can have; they decide formatting.
const (
	unitRate  = "/s"
	unitMs    = "ms"
	unitCount = ""
	unitKiB   = "KiB"
	unitUs    = "µs"
	unitMiB   = "MiB"
	unitCores = "cores"
)

// metric is one reported figure. Key is stable, for --json consumers.
type metric struct {
	Key   string
	Label string
	Value float64
	Unit  string
}

// result is one scenario run against one target.
type result struct {
	Target   string
	URL      string
	Metrics  []metric
	Failures []string
}

func (r *result) add(key, label string, v float64, unit string) {
	r.Metrics = append(r.Metrics, metric{key, label, v, unit})
}

func (r *result) addLatency(prefix, label string, h *Histogram) {
	for _, p := range []struct {
		key string
		pct float64
	}{{"p50", 50}, {"p90", 90}, {"p99", 99}} {
		r.add(prefix+"_"+p.key+"_ms", label+" "+p.key, ms(h.Percentile(p.pct)), unitMs)
	}
	r.add(prefix+"_max_ms", label+" max", ms(h.Max()), unitMs)
}

func (r *result) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// report is everything one invocation prints.
type report struct {
	Scenario string
	Describe string
	Params   map[string]any
	Results  []*result
	Notes    []string             // lines printed under the table
	Floor    map[string]float64   // publish --publishers 1: the floor (floorNote)
	Spread   map[string][]float64 // --runs: server/ceiling ratio per run (runsNote)
}

func (rep *report) failures() []string {
	var out []string
	for _, r := range rep.Results {
		for _, f := range r.Failures {
			out = append(out, r.Target+": "+f)
		}
	}
	return out
}

func (rep *report) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return rep.printJSON(w)
	}
	return rep.printTable(w)
}

// printTable prints one row per metric and one column per target, with
// server/ceiling when both ran: labels left-aligned, figures right.
func (rep *report) printTable(w io.Writer) error {
	rows := [][]string{{"metric"}}
	for _, r := range rep.Results {
		rows[0] = append(rows[0], r.Target)
	}
	ratio := len(rep.Results) == 2
	if ratio {
		rows[0] = append(rows[0], rep.Results[0].Target+"/"+rep.Results[1].Target)
	}
	for i, m := range rep.Results[0].Metrics {
		row := []string{m.Label}
		for _, r := range rep.Results {
			row = append(row, formatValue(r.Metrics[i]))
		}
		if ratio {
			row = append(row, formatRatio(m.Value, rep.Results[1].Metrics[i].Value, m.Unit))
		}
		rows = append(rows, row)
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for j, cell := range row {
			widths[j] = max(widths[j], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", rep.Scenario, rep.Describe)
	for _, row := range rows {
		for j, cell := range row {
			pad := strings.Repeat(" ", widths[j]-utf8.RuneCountInString(cell))
			if j == 0 {
				b.WriteString(cell + pad)
			} else {
				b.WriteString("  " + pad + cell)
			}
		}
		b.WriteString("\n")
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "%s\n", n)
	}
	for _, f := range rep.failures() {
		fmt.Fprintf(&b, "FAIL %s\n", f)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("print report: %w", err)
	}
	return nil
}

func formatValue(m metric) string {
	switch m.Unit {
	case unitMs:
		switch {
		case m.Value >= 100:
			return fmt.Sprintf("%.0f ms", m.Value)
		case m.Value >= 10:
			return fmt.Sprintf("%.1f ms", m.Value)
		}
		return fmt.Sprintf("%.2f ms", m.Value)
	case unitKiB, unitMiB, unitUs:
		return fmt.Sprintf("%.1f %s", m.Value, m.Unit)
	case unitCores:
		return fmt.Sprintf("%.2f %s", m.Value, m.Unit)
	case unitRate:
		return thousands(int64(math.Round(m.Value))) + "/s"
	}
	return thousands(int64(math.Round(m.Value)))
}

func formatRatio(a, b float64, unit string) string {
	if b == 0 || unit == unitCount {
		return ""
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

type jsonResult struct {
	Target   string             `json:"target"`
	URL      string             `json:"url"`
	Metrics  map[string]float64 `json:"metrics"`
	Failures []string           `json:"failures"`
}

func (rep *report) printJSON(w io.Writer) error {
	out := struct {
		Scenario string               `json:"scenario"`
		Params   map[string]any       `json:"params"`
		Machine  map[string]any       `json:"machine"`
		Results  []jsonResult         `json:"results"`
		Ratios   map[string]float64   `json:"ratios,omitempty"`
		Floor    map[string]float64   `json:"floor,omitempty"`
		Spread   map[string][]float64 `json:"spread,omitempty"`
		Notes    []string             `json:"notes,omitempty"`
		OK       bool                 `json:"ok"`
	}{
		Scenario: rep.Scenario,
		Params:   rep.Params,
		Machine:  map[string]any{"cpus": runtime.NumCPU(), "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH},
		OK:       len(rep.failures()) == 0,
		Floor:    rep.Floor,
		Spread:   rep.Spread,
		Notes:    rep.Notes,
	}
	for _, r := range rep.Results {
		jr := jsonResult{Target: r.Target, URL: r.URL, Metrics: map[string]float64{}, Failures: r.Failures}
		if jr.Failures == nil {
			jr.Failures = []string{}
		}
		for _, m := range r.Metrics {
			jr.Metrics[m.Key] = m.Value
		}
		out.Results = append(out.Results, jr)
	}
	if len(rep.Results) == 2 {
		out.Ratios = map[string]float64{}
		for i, m := range rep.Results[0].Metrics {
			if b := rep.Results[1].Metrics[i].Value; b != 0 && m.Unit != unitCount {
				out.Ratios[m.Key] = m.Value / b
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("print report: %w", err)
	}
	return nil
}

// progress prints line() to w about once a second until the returned
// stop is called; stop prints nothing more and waits for the printer.
func progress(ctx context.Context, w io.Writer, label string, line func() string) (stop func()) {
	start := time.Now()
	return every(ctx, time.Second, func() {
		fmt.Fprintf(w, "%s %5.1fs  %s\n", label, time.Since(start).Seconds(), line())
	})
}

// every calls f every d from one goroutine until the returned stop is
// called; stop waits for that goroutine.
func every(ctx context.Context, d time.Duration, f func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				f()
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// errSample keeps the first few distinct errors of a run and counts all.
type errSample struct {
	mu    sync.Mutex
	n     int64
	first []string
}

func (e *errSample) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 3 {
		e.first = append(e.first, err.Error())
	}
}

func (e *errSample) count() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func (e *errSample) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.first, " | ")
}
