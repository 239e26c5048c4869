package bench

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exact is the nearest-rank percentile of sorted values.
func exact(sorted []int64, p float64) int64 {
	rank := max(int(math.Ceil(p/100*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

func TestPercentileTable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []int64
		p      float64
		want   int64
	}{
		{"single", []int64{5}, 50, 5},
		{"single p99", []int64{5}, 99, 5},
		{"1..100 p50", seq(1, 100), 50, 50},
		{"1..100 p90", seq(1, 100), 90, 90},
		{"1..100 p99", seq(1, 100), 99, 99},
		{"1..100 p100", seq(1, 100), 100, 100},
		{"1..10 p99 is the max", seq(1, 10), 99, 10},
		{"1..10 p1 is the min", seq(1, 10), 1, 1},
		{"two values p50 is the lower", []int64{10, 20}, 50, 10},
		{"two values p51 is the upper", []int64{10, 20}, 51, 20},
		{"zeros", []int64{0, 0, 0}, 50, 0},
		{"negative counts as 0", []int64{-5, 7}, 50, 0},
		{"exact below 128", []int64{127, 127, 1}, 90, 127},
		{"max is exact", []int64{1, 1000003}, 100, 1000003},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tc.values {
				h.RecordValue(v)
			}
			assert.Equal(t, time.Duration(tc.want), h.Percentile(tc.p))
		})
	}
}

func seq(a, b int64) []int64 {
	var out []int64
	for v := a; v <= b; v++ {
		out = append(out, v)
	}
	return out
}

func TestPercentileEmpty(t *testing.T) {
	var h Histogram
	assert.Zero(t, h.Percentile(99))
	assert.Zero(t, h.Max())
	assert.Zero(t, h.Mean())
}

// Against exact percentiles of random latencies over seven orders of
// magnitude: never below the truth, at most 1/64 above.
func TestPercentileBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var h Histogram
	vals := make([]int64, 20000)
	for i := range vals {
		vals[i] = int64(math.Exp(rng.Float64()*16)) * 100 // 100 ns .. ~0.9 s
		h.RecordValue(vals[i])
	}
	slices.Sort(vals)
	for _, p := range []float64{1, 10, 50, 90, 99, 99.9, 100} {
		want := exact(vals, p)
		got := int64(h.Percentile(p))
		assert.GreaterOrEqual(t, got, want, "p%v", p)
		assert.LessOrEqual(t, float64(got), float64(want)*(1+1.0/subCount), "p%v", p)
	}
	assert.Equal(t, time.Duration(vals[len(vals)-1]), h.Max())
}

func TestBuckets(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 257, 1 << 20, 1<<20 + 1, 1<<40 - 1, math.MaxInt64} {
		b := bucketOf(v)
		require.Less(t, b, nBuckets, "v=%d", v)
		require.GreaterOrEqual(t, b, prev, "buckets grow with values")
		require.GreaterOrEqual(t, bucketTop(b), v, "v=%d lies in its bucket", v)
		if b > 0 {
			require.Less(t, bucketTop(b-1), v, "v=%d is above the bucket before", v)
		}
		prev = b
	}
	assert.Equal(t, nBuckets-1, bucketOf(math.MaxInt64))
}

func TestHistogramJSONMerge(t *testing.T) {
	var a, b Histogram
	for v := int64(1); v <= 1000; v++ {
		a.RecordValue(v * 1000)
	}
	b.RecordValue(5)
	raw, err := json.Marshal(&a)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &b))
	assert.Equal(t, uint64(1001), b.Count())
	assert.Equal(t, time.Duration(1000000), b.Max())
	assert.Equal(t, a.Percentile(50), func() time.Duration { var c Histogram; c.Merge(&a); return c.Percentile(50) }())
	require.Error(t, json.Unmarshal([]byte(`{"buckets":[[99999,1]]}`), &b))
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := time.Duration(12345)
		for pb.Next() {
			h.Record(v)
			v += 977
		}
	})
}
