package browserbench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The token bucket (tc-tbf(8)) that caps the subscriber's downlink is
// shaped like a real bottleneck, not like a policer: the bucket holds a
// few milliseconds at the rate (so the link never bursts much above its
// capacity) but at least two full Ethernet frames (so a full-size packet
// always fits and the shaper does not punish packet size), and its queue
// holds tbfLatency of traffic at the rate (a modest home router's buffer:
// a sender that overshoots sees delay first, then drops — the signal
// congestion control reads).
const (
	tbfBurstTime = 5 * time.Millisecond
	tbfMinBurst  = 2 * 1514 // bytes: two Ethernet frames of a 1500-byte MTU
	tbfLatency   = 200 * time.Millisecond
)

// burstBytes is the bucket size for rate r.
func burstBytes(r Rate) int {
	return max(int(int64(r)*int64(tbfBurstTime)/int64(time.Second)/8), tbfMinBurst)
}

// tbfArgs is the tc(8) command line that caps dev's egress at r, or that
// removes the cap when r is Off.
func tbfArgs(dev string, r Rate) []string {
	if r == Off {
		return []string{"qdisc", "del", "dev", dev, "root"}
	}
	return []string{"qdisc", "replace", "dev", dev, "root", "tbf",
		"rate", strconv.FormatInt(int64(r), 10) + "bit",
		"burst", strconv.Itoa(burstBytes(r)),
		"latency", strconv.FormatInt(tbfLatency.Milliseconds(), 10) + "ms"}
}

// qdiscCounters are a qdisc's cumulative statistics (tc -s).
type qdiscCounters struct {
	Bytes      uint64 `json:"bytes"`
	Packets    uint64 `json:"packets"`
	Drops      uint64 `json:"drops"`
	Overlimits uint64 `json:"overlimits"`
}

func (c qdiscCounters) minus(o qdiscCounters) qdiscCounters {
	return qdiscCounters{Bytes: c.Bytes - o.Bytes, Packets: c.Packets - o.Packets, Drops: c.Drops - o.Drops, Overlimits: c.Overlimits - o.Overlimits}
}

func (c qdiscCounters) plus(o qdiscCounters) qdiscCounters {
	return qdiscCounters{Bytes: c.Bytes + o.Bytes, Packets: c.Packets + o.Packets, Drops: c.Drops + o.Drops, Overlimits: c.Overlimits + o.Overlimits}
}

// parseQdiscJSON reads `tc -s -j qdisc show dev X`: the root tbf's
// counters (ok false when there is none).
func parseQdiscJSON(b []byte) (qdiscCounters, bool, error) {
	var qs []struct {
		Kind string `json:"kind"`
		Root bool   `json:"root"`
		qdiscCounters
	}
	if err := json.Unmarshal(b, &qs); err != nil {
		return qdiscCounters{}, false, fmt.Errorf("browserbench: tc output: %w", err)
	}
	for _, q := range qs {
		if q.Kind == "tbf" && q.Root {
			return q.qdiscCounters, true, nil
		}
	}
	return qdiscCounters{}, false, nil
}

// ifLink matches the peer's interface index in `ip -o link show`:
// "2: eth0@if57: <...", on any line (ip may warn on a line before it:
// "Error: Peer netns reference is invalid.").
var ifLink = regexp.MustCompile(`(?m)^\d+:\s*[^@:\s]+@if(\d+):`)

// rootVeth finds the root namespace's end of the veth pair whose other
// end is eth0 in namespace ns.
func rootVeth(ctx context.Context, ns string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", "-n", ns, "-o", "link", "show", "eth0").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("browserbench: ip -n %s link show eth0: %w: %s", ns, err, strings.TrimSpace(string(out)))
	}
	m := ifLink.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("browserbench: no veth peer in %q", strings.TrimSpace(string(out)))
	}
	idx, _ := strconv.Atoi(string(m[1]))
	ifi, err := net.InterfaceByIndex(idx)
	if err != nil {
		return "", fmt.Errorf("browserbench: veth peer %d of %s: %w", idx, ns, err)
	}
	return ifi.Name, nil
}

// PhaseResult is one step of the schedule as it happened.
type PhaseResult struct {
	// From and To are seconds on the run's clock.
	From float64 `json:"from"`
	To   float64 `json:"to"`
	Rate Rate    `json:"rateBps"`
	// Sent, Packets, Drops and Overlimits are the shaper's counters over
	// the phase (zero while unshaped): bytes and packets it let through,
	// packets it dropped, times it had to hold a packet back.
	Sent       uint64 `json:"sentBytes"`
	Packets    uint64 `json:"packets"`
	Drops      uint64 `json:"drops"`
	Overlimits uint64 `json:"overlimits"`
	// OfferedKbps is what the server sent towards the subscriber in the
	// phase (UDP payload seen by the tap, before the shaper).
	OfferedKbps float64 `json:"offeredKbps"`
	// CapShare is the bits the shaper let through (Ethernet frames) over
	// what the cap allowed in the phase; 0 while unshaped.
	CapShare float64 `json:"capShare"`
	// Video is the subscriber's video over the phase.
	Video VideoSummary `json:"video"`
}

// shaper applies a schedule to one interface's egress and reads the
// shaper's counters every second.
type shaper struct {
	dev    string
	sched  Schedule
	origin time.Time
	tc     func(ctx context.Context, args ...string) ([]byte, error)

	cur     Rate
	base    qdiscCounters // counters of caps already removed
	last    qdiscCounters // the current cap's latest reading
	marks   []qdiscCounters
	markT   []time.Duration
	perSec  []qdiscCounters // cumulative at each whole second since origin
	lastErr error
}

func newShaper(dev string, sched Schedule, origin time.Time) *shaper {
	return &shaper{dev: dev, sched: sched, origin: origin, tc: runTC}
}

func runTC(ctx context.Context, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, "tc", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("browserbench: tc %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// total is the counters over every cap so far.
func (s *shaper) total() qdiscCounters { return s.base.plus(s.last) }

// read updates last from tc.
func (s *shaper) read(ctx context.Context) {
	if s.cur == Off {
		return
	}
	out, err := s.tc(ctx, "-s", "-j", "qdisc", "show", "dev", s.dev)
	if err != nil {
		s.lastErr = err
		return
	}
	c, ok, err := parseQdiscJSON(out)
	if err != nil || !ok {
		s.lastErr = err
		return
	}
	if c.Bytes < s.last.Bytes || c.Packets < s.last.Packets { // a new qdisc
		s.base = s.base.plus(s.last)
	}
	s.last = c
}

// set changes the cap to r.
func (s *shaper) set(ctx context.Context, r Rate) error {
	if r == s.cur {
		return nil
	}
	if r == Off {
		s.read(ctx)
		s.base, s.last = s.total(), qdiscCounters{}
	}
	if _, err := s.tc(ctx, tbfArgs(s.dev, r)...); err != nil {
		return err
	}
	if s.cur == Off {
		s.last = qdiscCounters{} // a fresh qdisc counts from zero
	}
	s.cur = r
	return nil
}

// run applies the schedule until ctx ends, then removes the cap (with a
// context of its own: ctx is over by then).
func (s *shaper) run(ctx context.Context) error {
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		s.read(cctx)
		s.markAt(time.Since(s.origin))
		_ = s.set(cctx, Off)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	step := time.NewTimer(0)
	defer step.Stop()
	next := 0
	if len(s.sched) > 0 {
		step.Reset(max(time.Until(s.origin.Add(s.sched[0].At)), 0))
	} else {
		step.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.read(ctx)
			sec := int(time.Since(s.origin).Round(time.Second) / time.Second)
			for len(s.perSec) <= sec {
				s.perSec = append(s.perSec, s.total())
			}
		case <-step.C:
			s.read(ctx)
			s.markAt(time.Since(s.origin))
			if err := s.set(ctx, s.sched[next].Rate); err != nil {
				return err
			}
			if next++; next < len(s.sched) {
				step.Reset(max(time.Until(s.origin.Add(s.sched[next].At)), 0))
			}
		}
	}
}

// markAt records the cumulative counters at a phase boundary.
func (s *shaper) markAt(d time.Duration) {
	s.marks = append(s.marks, s.total())
	s.markT = append(s.markT, d)
}

// phases pairs the schedule with the counters at its boundaries: phase i
// runs from mark i (taken just before its change) to mark i+1 (the next
// change, or the end of the run).
func (s *shaper) phases() []PhaseResult {
	var out []PhaseResult
	for i := range s.sched {
		if i+1 >= len(s.marks) {
			break
		}
		from, to := s.marks[i], s.marks[i+1]
		c := to.minus(from)
		p := PhaseResult{
			From: s.markT[i].Seconds(), To: s.markT[i+1].Seconds(), Rate: s.sched[i].Rate,
			Sent: c.Bytes, Packets: c.Packets, Drops: c.Drops, Overlimits: c.Overlimits,
		}
		if d := p.To - p.From; p.Rate != Off && d > 0 {
			p.CapShare = float64(c.Bytes) * 8 / (float64(p.Rate) * d)
		}
		out = append(out, p)
	}
	return out
}
