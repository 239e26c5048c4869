package bench

import (
	"fmt"
	"slices"
	"strings"
)

// repeated is a scenario that can be run several times in one invocation
// (--runs), so that a tail that jumps between runs shows.
type repeated interface {
	runs() int
	// sameKeys are count metrics that are the same in every run (not
	// summed).
	sameKeys() map[string]bool
	// spreadKeys are the metrics reported as best and worst over the
	// runs, and whose server/ceiling ratio is given per run.
	spreadKeys() []string
}

// combineRuns folds one target's runs into one result: counts are totals
// (but sameKeys), other figures the median of the runs, and every
// spreadKey also as its best and worst run. Failures keep their run.
func combineRuns(sc repeated, rs []*result) *result {
	out := &result{Target: rs[0].Target, URL: rs[0].URL}
	same := sc.sameKeys()
	for i, m := range rs[0].Metrics {
		vals := make([]float64, len(rs))
		for j, r := range rs {
			vals[j] = r.Metrics[i].Value
		}
		switch {
		case m.Unit == unitCount && same[m.Key]:
		case m.Unit == unitCount:
			m.Value = 0
			for _, v := range vals {
				m.Value += v
			}
		default:
			m.Value = median(slices.Clone(vals))
		}
		out.Metrics = append(out.Metrics, m)
	}
	for _, key := range sc.spreadKeys() {
		i := slices.IndexFunc(rs[0].Metrics, func(m metric) bool { return m.Key == key })
		if i < 0 {
			continue
		}
		vals := make([]float64, len(rs))
		for j, r := range rs {
			vals[j] = r.Metrics[i].Value
		}
		m := rs[0].Metrics[i]
		out.add(key+"_best", m.Label+", best run", slices.Min(vals), m.Unit)
		out.add(key+"_worst", m.Label+", worst run", slices.Max(vals), m.Unit)
	}
	for j, r := range rs {
		for _, f := range r.Failures {
			out.Failures = append(out.Failures, fmt.Sprintf("run %d: %s", j+1, f))
		}
	}
	return out
}

// runsNote gives each spreadKey per run, for every target, and the
// server/ceiling ratio of each run (the runs alternate the targets, so
// run i of each saw the same machine).
func runsNote(rep *report, sc repeated, perKind [][]*result) {
	rep.Notes = append(rep.Notes, fmt.Sprintf("%d runs each, alternating targets: figures are medians over the runs, counts totals", len(perKind[0])))
	for _, key := range sc.spreadKeys() {
		vals := make([][]float64, len(perKind))
		label := key
		for k, rs := range perKind {
			for _, r := range rs {
				for _, m := range r.Metrics {
					if m.Key == key {
						vals[k] = append(vals[k], m.Value)
						label = m.Label
					}
				}
			}
		}
		for k, v := range vals {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s, %s, per run: %s", label, perKind[k][0].Target, joinMs(v)))
		}
		if len(vals) != 2 || len(vals[0]) != len(vals[1]) {
			continue
		}
		ratios := make([]float64, len(vals[0]))
		var parts []string
		for i := range ratios {
			if vals[1][i] > 0 {
				ratios[i] = vals[0][i] / vals[1][i]
			}
			parts = append(parts, fmt.Sprintf("%.2f×", ratios[i]))
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s, server/ceiling per run: %s (worst %.2f×, best %.2f×)",
			label, strings.Join(parts, ", "), slices.Max(ratios), slices.Min(ratios)))
		if rep.Spread == nil {
			rep.Spread = map[string][]float64{}
		}
		rep.Spread[key+"_ratio"] = ratios
	}
}

func joinMs(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = formatValue(metric{Value: x, Unit: unitMs})
	}
	return strings.Join(parts, ", ")
}
