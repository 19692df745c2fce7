package hist

import (
	"math"
	"math/bits"
	"time"
)

const (
	subBits  = 6            // sub-bucket resolution: 2^subBits per power of two
	subCount = 1 << subBits // 64
	linear   = 2 * subCount // values below this are exact
	maxExp   = 40           // values up to 2^40 ns (about 18 minutes)
	nBuckets = linear + (maxExp-subBits-1)*subCount
	maxValue = int64(1)<<maxExp - 1
)

// Histogram counts int64 values (nanoseconds, for latencies). The zero value
// is not usable: call New.
type Histogram struct {
	counts []uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

// New returns an empty histogram.
func New() *Histogram {
	return &Histogram{counts: make([]uint64, nBuckets), min: math.MaxInt64}
}

func index(v int64) int {
	if v < linear {
		return int(v)
	}
	msb := bits.Len64(uint64(v)) - 1 // >= subBits+1
	shift := msb - subBits
	sub := int(v >> shift) // in [subCount, 2*subCount)
	return linear + (msb-subBits-1)*subCount + (sub - subCount)
}

// bounds returns the smallest and largest value that map to bucket i.
func bounds(i int) (lo, hi int64) {
	if i < linear {
		return int64(i), int64(i)
	}
	j := i - linear
	msb := j/subCount + subBits + 1
	sub := int64(j%subCount + subCount)
	shift := msb - subBits
	lo = sub << shift
	hi = lo + (int64(1) << shift) - 1
	return lo, hi
}

// Record counts one value; negative values count as 0 and values beyond
// about 18 minutes are clamped.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	if v > maxValue {
		v = maxValue
	}
	h.counts[index(v)]++
	h.n++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// RecordDuration counts one duration in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
}

// Reset empties the histogram.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.n, h.sum, h.min, h.max = 0, 0, math.MaxInt64, 0
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Min is the smallest recorded value (0 when empty).
func (h *Histogram) Min() int64 {
	if h.n == 0 {
		return 0
	}
	return h.min
}

// Max is the largest recorded value, exactly.
func (h *Histogram) Max() int64 { return h.max }

// Mean is the exact mean of the recorded values.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value below which a fraction q (0..1) of the values
// lie: the midpoint of the bucket holding that rank, kept within
// [Min, Max].
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank == 0 {
		rank = 1
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			lo, hi := bounds(i)
			v := lo + (hi-lo)/2
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// Bucket is one bar of a distribution: Count values in (previous Le, Le].
type Bucket struct {
	Le    int64
	Count uint64
}

// Buckets returns the distribution regrouped into perDecade logarithmic
// bars per factor of ten, omitting empty bars: the shape charts draw.
func (h *Histogram) Buckets(perDecade int) []Bucket {
	if h.n == 0 {
		return nil
	}
	if perDecade < 1 {
		perDecade = 10
	}
	step := math.Pow(10, 1/float64(perDecade))
	var out []Bucket
	edge := 1.0
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		_, hi := bounds(i)
		for float64(hi) > edge {
			edge *= step
		}
		le := int64(math.Ceil(edge))
		if n := len(out); n > 0 && out[n-1].Le == le {
			out[n-1].Count += c
		} else {
			out = append(out, Bucket{Le: le, Count: c})
		}
	}
	return out
}

// Raw is one non-empty bucket in the histogram's own resolution: Count
// values near Value. Raw buckets let another process's histogram be merged
// (see Histogram.Raw and RecordN).
type Raw struct {
	Value int64  `json:"v"`
	Count uint64 `json:"n"`
}

// Raw returns the non-empty buckets, each at its midpoint.
func (h *Histogram) Raw() []Raw {
	var out []Raw
	for i, c := range h.counts {
		if c > 0 {
			lo, hi := bounds(i)
			out = append(out, Raw{Value: lo + (hi-lo)/2, Count: c})
		}
	}
	return out
}

// RecordN counts v n times.
func (h *Histogram) RecordN(v int64, n uint64) {
	if n == 0 {
		return
	}
	h.Record(v)
	if n > 1 {
		v = max(0, min(v, maxValue))
		h.counts[index(v)] += n - 1
		h.n += n - 1
		h.sum += float64(v) * float64(n-1)
	}
}
