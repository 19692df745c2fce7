package browserbench

import (
	"math"
)

// What a change of the cap is judged by: after a drop, playback is
// smooth again once SmoothFPS frames a second or more were decoded in
// each of SmoothRun whole seconds running; after a rise, once the decoded
// height is back at the top layer's. A second counts as SmoothFPS when it
// reaches SmoothTolerance of it: the publisher's 180p and 360p layers are
// encoded at 20 fps, and frames decoded per second, read from stats about
// a second apart, swing by a frame or two around that.
const (
	SmoothFPS       = 20
	SmoothRun       = 3
	SmoothTolerance = 0.9
)

// capacity is a rate for comparing caps: Off is no cap at all.
func capacity(r Rate) float64 {
	if r == Off {
		return math.Inf(1)
	}
	return float64(r)
}

// recoveries judges every change of the schedule after T = 0 (a cap set
// at T = 0 is the link the subscriber joined on, not a change): each drop
// by the first SmoothRun seconds of smooth playback after it, each rise
// by the first sample at top height or above after it. A change's window
// ends at the next change or at end (seconds on the subscriber's clock).
func recoveries(series []Second, samples []SubscriberSample, sched Schedule, top, end float64) (drops, rises []Recovery) {
	for i, st := range sched {
		if st.At <= 0 {
			continue
		}
		prev := Off
		if i > 0 {
			prev = sched[i-1].Rate
		}
		at := st.At.Seconds()
		until := end
		if i+1 < len(sched) {
			until = min(end, sched[i+1].At.Seconds())
		}
		rec := Recovery{At: at, From: prev, To: st.Rate, Seconds: until - at}
		switch {
		case capacity(st.Rate) < capacity(prev):
			if s, ok := smoothAfter(series, at, until); ok {
				rec.Seconds, rec.Reached = s-at, true
			}
			drops = append(drops, rec)
		case capacity(st.Rate) > capacity(prev):
			for _, s := range samples {
				if s.Video == nil || s.T <= at || s.T > until {
					continue
				}
				if s.Video.FrameHeight >= top {
					rec.Seconds, rec.Reached = s.T-at, true
					break
				}
			}
			rises = append(rises, rec)
		}
	}
	return drops, rises
}

// smoothAfter is the start of the first SmoothRun whole seconds of the
// series, after at and ending by until, at SmoothFPS (within
// SmoothTolerance) or more in each
// (a point at T covers the second (T-1, T]); never earlier than at.
func smoothAfter(series []Second, at, until float64) (float64, bool) {
	run := 0
	for _, p := range series {
		if p.T-1 < math.Floor(at) || p.T > until {
			continue
		}
		if p.FPS >= SmoothTolerance*SmoothFPS {
			run++
		} else {
			run = 0
		}
		if run == SmoothRun {
			return max(p.T-SmoothRun, at), true
		}
	}
	return 0, false
}
