package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear: values below 2·subCount are counted
// exactly; above, each power of two is split into subCount buckets, so a
// reported percentile is at most 1/subCount (1.6%) above the true one and
// never below it. A fixed array of atomic counters lets thousands of
// subscriber goroutines record without a lock or per-goroutine copies.
const (
	subBits  = 6
	subCount = 1 << subBits
	nBuckets = 2*subCount + (63-subBits-1)*subCount
)

// Histogram records durations (as nanoseconds) for percentiles. The zero
// value is ready; it is safe for concurrent use.
type Histogram struct {
	counts [nBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Int64
	max    atomic.Int64
}

func bucketOf(v int64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1 // v>>shift is in [subCount, 2·subCount)
	return 2*subCount + (shift-1)*subCount + int(v>>shift) - subCount
}

// bucketTop is the largest value that falls in bucket i.
func bucketTop(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	k := i - 2*subCount
	shift := k/subCount + 1
	m := int64(k%subCount + subCount)
	return (m+1)<<shift - 1
}

// Record adds one duration; a negative one (a clock step) counts as 0.
func (h *Histogram) Record(d time.Duration) { h.RecordValue(int64(d)) }

// RecordValue adds one raw value; a negative one counts as 0.
func (h *Histogram) RecordValue(v int64) {
	v = max(v, 0)
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for m := h.max.Load(); v > m && !h.max.CompareAndSwap(m, v); m = h.max.Load() {
	}
}

// Count is how many values were recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest value recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the average of the recorded values, 0 if none.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100): the
// smallest recorded value with at least p% of the values at or below it,
// rounded up to its bucket's top and never above Max. 0 if empty.
func (h *Histogram) Percentile(p float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(p/100*float64(n))), 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(bucketTop(i), h.max.Load()))
		}
	}
	return h.Max()
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	v := o.max.Load()
	for m := h.max.Load(); v > m && !h.max.CompareAndSwap(m, v); m = h.max.Load() {
	}
}

// histJSON is a histogram on the wire between a connections child and
// its parent: only the buckets in use.
type histJSON struct {
	Buckets [][2]uint64 `json:"buckets"` // [index, count]
	Sum     int64       `json:"sum"`
	Max     int64       `json:"max"`
}

// MarshalJSON encodes the histogram sparsely.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	out := histJSON{Sum: h.sum.Load(), Max: h.max.Load(), Buckets: [][2]uint64{}}
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			out.Buckets = append(out.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON adds an encoded histogram's values to h.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var in histJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("decode histogram: %w", err)
	}
	var o Histogram
	for _, bc := range in.Buckets {
		if bc[0] >= nBuckets {
			return fmt.Errorf("decode histogram: bucket %d out of range", bc[0])
		}
		o.counts[bc[0]].Add(bc[1])
		o.n.Add(bc[1])
	}
	o.sum.Store(in.Sum)
	o.max.Store(in.Max)
	h.Merge(&o)
	return nil
}
