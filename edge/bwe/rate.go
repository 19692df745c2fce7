package bwe

// rateWindow measures a byte rate over a sliding window of time in bins:
// the acknowledged bitrate over arrival times (what the path delivered), as
// libwebrtc's AcknowledgedBitrateEstimator does with its windows.
type rateWindow struct {
	bins   [rateBins]rateBin
	newest int64 // index of the newest bin
	first  int64 // the first sample's time
	last   int64 // the newest sample's time
	any    bool
}

type rateBin struct {
	idx   int64
	bytes int64
}

const (
	rateBinNs    = 25_000_000 // ns a bin
	rateBins     = 20         // 500 ms
	rateMinSpan  = 150_000_000
	rateMaxBytes = 1 << 40
)

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// add counts size bytes at time at (ns). Samples older than the window are
// dropped; samples may otherwise come in any order.
func (r *rateWindow) add(at int64, size int) {
	idx := floorDiv(at, rateBinNs)
	if !r.any {
		r.any, r.first, r.last, r.newest = true, at, at, idx
	}
	if idx <= r.newest-rateBins {
		return
	}
	if idx > r.newest {
		r.newest = idx
	}
	r.last = max(r.last, at)
	r.first = min(r.first, at)
	b := &r.bins[idx%rateBins+rateBinsIfNeg(idx)]
	if b.idx != idx {
		b.idx, b.bytes = idx, 0
	}
	b.bytes = min(b.bytes+int64(size), rateMaxBytes)
}

func rateBinsIfNeg(idx int64) int64 {
	if idx%rateBins < 0 {
		return rateBins
	}
	return 0
}

// bps is the rate over the window ending at the newest sample, in bits/s;
// 0 until samples span rateMinSpan.
func (r *rateWindow) bps() float64 {
	if !r.any {
		return 0
	}
	oldest := r.newest - rateBins + 1
	start := max(oldest*rateBinNs, r.first)
	span := r.last - start
	if span < rateMinSpan {
		return 0
	}
	var sum int64
	for i := range r.bins {
		if b := r.bins[i]; b.idx >= oldest && b.idx <= r.newest {
			sum += b.bytes
		}
	}
	return float64(sum) * 8 * 1e9 / float64(span)
}
