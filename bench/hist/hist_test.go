package hist

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestBoundsRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 129, 1000, 123456, 1 << 30, maxValue} {
		lo, hi := bounds(index(v))
		if v < lo || v > hi {
			t.Fatalf("value %d maps to bucket [%d,%d]", v, lo, hi)
		}
		if v >= linear && float64(hi-lo)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket of %d too wide: [%d,%d]", v, lo, hi)
		}
	}
	if index(maxValue) >= nBuckets {
		t.Fatalf("index(max)=%d >= %d", index(maxValue), nBuckets)
	}
}

func TestQuantiles(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) int64
	}{
		{"uniform 1-10ms", func(r *rand.Rand) int64 { return int64(time.Millisecond) + r.Int64N(int64(9*time.Millisecond)) }},
		{"exponential 2ms", func(r *rand.Rand) int64 { return int64(r.ExpFloat64() * 2e6) }},
		{"small integers", func(r *rand.Rand) int64 { return r.Int64N(100) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			h := New()
			vals := make([]int64, 20000)
			for i := range vals {
				vals[i] = tt.gen(r)
				h.Record(vals[i])
			}
			sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
			for _, q := range []float64{0.5, 0.95, 0.99} {
				want := vals[int(math.Ceil(q*float64(len(vals))))-1]
				got := h.Quantile(q)
				if d := math.Abs(float64(got-want)) / math.Max(1, float64(want)); d > 0.02 {
					t.Errorf("q%.2f = %d, want %d (±2%%)", q, got, want)
				}
			}
			if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] {
				t.Errorf("min/max = %d/%d, want %d/%d", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
		})
	}
}

func TestMergeAndBuckets(t *testing.T) {
	a, b := New(), New()
	for i := 0; i < 1000; i++ {
		a.RecordDuration(time.Millisecond)
		b.RecordDuration(100 * time.Millisecond)
	}
	a.Merge(b)
	if a.Count() != 2000 {
		t.Fatalf("count = %d", a.Count())
	}
	if p := time.Duration(a.Quantile(0.25)); p < 990*time.Microsecond || p > 1010*time.Microsecond {
		t.Fatalf("p25 = %v", p)
	}
	if p := time.Duration(a.Quantile(0.99)); p < 99*time.Millisecond || p > 101*time.Millisecond {
		t.Fatalf("p99 = %v", p)
	}
	bs := a.Buckets(10)
	if len(bs) != 2 {
		t.Fatalf("buckets = %+v, want 2 bars", bs)
	}
	var n uint64
	for _, bk := range bs {
		n += bk.Count
	}
	if n != 2000 {
		t.Fatalf("bucket total = %d", n)
	}
	a.Reset()
	if a.Count() != 0 || a.Quantile(0.5) != 0 || a.Buckets(10) != nil {
		t.Fatal("reset histogram not empty")
	}
}

func BenchmarkRecord(b *testing.B) {
	h := New()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i) * 997)
	}
}

func TestRawRoundTrip(t *testing.T) {
	a := New()
	for i := 1; i <= 1000; i++ {
		a.RecordDuration(time.Duration(i) * time.Microsecond)
	}
	b := New()
	for _, r := range a.Raw() {
		b.RecordN(r.Value, r.Count)
	}
	if b.Count() != a.Count() {
		t.Fatalf("count %d != %d", b.Count(), a.Count())
	}
	for _, q := range []float64{0.5, 0.99} {
		x, y := float64(a.Quantile(q)), float64(b.Quantile(q))
		if math.Abs(x-y)/x > 0.02 {
			t.Fatalf("q%v: %v vs %v", q, x, y)
		}
	}
}
