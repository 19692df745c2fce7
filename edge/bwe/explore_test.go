package bwe

import (
	"fmt"
	"os"
	"testing"
)

// TestExplore prints one simulated trace every 100 ms (BWE_EXPLORE=steady,
// greedy, drop, loss, delay, jitter, jitter40, layered, cap600, cap1500 or
// starved; FROM and TO in seconds narrow it), then the time the target
// spent below the demand and the decreases: the tool for looking at what
// the estimator does when tuning it.
func TestExplore(t *testing.T) {
	if os.Getenv("BWE_EXPLORE") == "" {
		t.Skip()
	}
	sc := os.Getenv("BWE_EXPLORE")
	var l *link
	var d func(int64) float64
	var dur int64 = 40 * sec
	var pace int64
	switch sc {
	case "steady":
		l = &link{capacity: constant(3e6), delay: 20 * ms, queueMax: 300 * ms}
		d = constant(2.5e6)
	case "jitter":
		l = &link{capacity: constant(3e6), delay: 20 * ms, queueMax: 300 * ms, jitter: 30 * ms}
		d = constant(2.5e6)
		dur = 60 * sec
	case "jitter40":
		// The bench's jitter scenario: no bottleneck, 40 ms ± 30 ms of
		// order-kept delay jitter, one 720p layer forwarded (app-limited)
		// as the publisher's pacer spread it.
		l = &link{capacity: constant(5e6), delay: 40 * ms, queueMax: 300 * ms, jitter: 60 * ms}
		d = constant(1.3e6)
		pace = 4 * ms
	case "layered":
		l = &link{capacity: steps(3e6, []int64{15 * sec, 40 * sec}, []float64{0.4e6, 3e6}), delay: 20 * ms, queueMax: 300 * ms}
		d = constant(2.5e6)
		dur = 60 * sec
	case "cap600":
		l = &link{capacity: constant(0.6e6), delay: 20 * ms, queueMax: 200 * ms, burst: 3028}
		d = constant(2.5e6)
	case "cap1500":
		l = &link{capacity: constant(1.5e6), delay: 20 * ms, queueMax: 200 * ms, burst: 3028}
		d = constant(2.5e6)
	case "starved":
		l = &link{capacity: constant(0.6e6), delay: 20 * ms, queueMax: 200 * ms, burst: 3028, stampEvery: 25 * ms}
		d = constant(2.5e6)
	case "greedy":
		l = &link{capacity: constant(3e6), delay: 20 * ms, queueMax: 300 * ms}
		d = constant(10e6)
	case "drop":
		l = &link{capacity: steps(3e6, []int64{20 * sec, 35 * sec}, []float64{0.5e6, 3e6}), delay: 20 * ms, queueMax: 300 * ms}
		d = constant(2.5e6)
		dur = 50 * sec
	case "loss":
		l = &link{capacity: constant(3e6), delay: 20 * ms, queueMax: 300 * ms, loss: 0.05}
		d = constant(2.5e6)
	case "delay":
		l = &link{capacity: steps(3e6, []int64{20 * sec}, []float64{1e6}), delay: 20 * ms, queueMax: 100 * sec}
		d = constant(2.5e6)
	}
	s := newSim(t, Config{}, l, d)
	s.pace = pace
	if sc == "layered" || sc == "cap600" || sc == "cap1500" || sc == "starved" {
		s.layers = []float64{150e3, 500e3, 1.7e6}
	}
	every := int64(100 * ms)
	var below int64 // time the target spent below the demand
	for at := int64(0); at < dur; at += every {
		s.run(every)
		x := s.samples[len(s.samples)-1]
		if float64(x.est.Target) < d(s.now) {
			below += every
		}
		if lo, hi := os.Getenv("FROM"), os.Getenv("TO"); lo != "" {
			var a, b float64
			fmt.Sscan(lo, &a)
			fmt.Sscan(hi, &b)
			if float64(x.at)/1e9 < a || float64(x.at)/1e9 > b {
				continue
			}
		} else if len(s.samples)%5 != 0 {
			continue
		}
		fmt.Printf("%5.1fs target %5.0fk delay %5.0fk loss %5.0fk acked %5.0fk %-8v loss %.3f rtt %3dms m %6.1f γ %5.1f q %3dms layer %d\n", float64(x.at)/1e9,
			float64(x.est.Target)/1e3, float64(x.est.DelayBased)/1e3, float64(x.est.LossBased)/1e3, float64(x.est.Acked)/1e3, x.est.Usage, x.est.Loss, x.est.RTT/1e6, s.e.trend.lastModified, s.e.trend.gamma, (s.link.busyUntil-s.now)/ms, s.layer)
	}
	fmt.Printf("below demand %.1f s of %.0f s, %d delay decreases, %d loss decreases\n", float64(below)/1e9, float64(dur)/1e9, s.e.Stats().DelayDecreases, s.e.Stats().LossDecreases)
	fmt.Printf("%+v\nmaxQueue %v drops %d sent %d probe %d\n", s.e.Stats(), s.link.maxQueue/ms, s.link.drops, s.sentB, s.probeB)
}
