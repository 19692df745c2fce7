package browserbench

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/result"
)

// fakeRun is a decoded run with the given freezes, fps and wire holes.
func fakeRun(server string, n int, freezes, fps float64, holes uint64) benchRun {
	return benchRun{server: server, n: n, res: Result{
		Subscribers: []SubscriberResult{{
			Name: "s1", Link: Link{Shaping: Fixed(1_500_000)}, Decoded: true, TTFFMs: 500 + 100*float64(n),
			Video: VideoSummary{Freezes: freezes, FreezeSeconds: freezes / 2, FPSp50: fps, FPSp10: fps - 5, HeightP50: 720,
				Kbps: 1000, TimeAtHeight: map[int]float64{720: 30, 360: 8}},
			Audio:  AudioSummary{Concealed: 0.01 * float64(n), ConcealmentEvents: float64(n)},
			Wire:   WireResult{Holes: holes, Streams: []Stream{{Direction: "down", SSRC: 1, Role: "video", PayloadTypes: []uint8{96}, Packets: 100}}},
			Phases: []PhaseResult{{From: 0, To: 40, Rate: 1_500_000, Sent: 6_000_000, Drops: 12, CapShare: 0.8, OfferedKbps: 1650}},
			Series: []Second{{T: 1, Height: 720, FPS: 30, Kbps: 1000, CapKbps: 1500}},
		}},
		Publisher: PublisherSummary{Layers: []LayerSummary{{RID: "f", HeightP50: 720}},
			Limitation: map[string]float64{"none": 40}},
	}}
}

// TestBenchFill: medians per server, the first server's metrics bare and
// the others' prefixed, ratios of the first over the second, a check per
// run, and the text table side by side.
func TestBenchFill(t *testing.T) {
	b := &Bench{servers: []string{"ours", "livekit"}, links: []Link{{Shaping: Fixed(1_500_000)}}, runs: []benchRun{
		fakeRun("ours", 1, 6, 20, 40), fakeRun("livekit", 1, 0, 30, 0),
		fakeRun("ours", 2, 2, 25, 10), fakeRun("livekit", 2, 1, 29, 0),
		fakeRun("ours", 3, 9, 22, 30), fakeRun("livekit", 3, 0, 31, 0),
	}}
	r := result.New("browser", "ours,livekit", time.Now())
	b.fill(r)
	for name, want := range map[string]float64{
		"freezes": 6, "livekit_freezes": 0, "fps_p50": 22, "livekit_fps_p50": 30, "wire_holes": 30, "livekit_wire_holes": 0,
		"ttff_ms": 700, "qdisc_drops": 12, "cap_share": 80, "capped_offered_share": 110, "fps_p50_ours_over_livekit": 22.0 / 30,
		"at_720p_ms": 30000, "at_360p_ms": 8000, "audio_concealment_events": 2, "livekit_audio_concealed": 2,
	} {
		got, _, err := r.Lookup(name)
		if err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", name, got, err, want)
		}
	}
	// livekit's median freeze time is 0: no ratio rather than infinity.
	if v, _, err := r.Lookup("freeze_ms_ours_over_livekit"); err == nil {
		t.Errorf("freeze ratio %v over a zero median", v)
	}
	if len(r.Checks) != 6 || len(r.FailedChecks()) != 0 {
		t.Errorf("checks %+v", r.Checks)
	}
	names := map[string]bool{}
	for _, tb := range r.Tables {
		names[tb.Name] = true
	}
	for _, n := range []string{"side by side", "time at each height (s)", "shaping phases", "publisher layers", "wire, per SSRC"} {
		if !names[n] {
			t.Errorf("no table %q (have %v)", n, names)
		}
	}
	var out bytes.Buffer
	if err := b.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ours/livekit", "6 2 9", "0 1 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	// A run that decoded nothing fails its check and stays out of the medians.
	b.runs = append(b.runs, benchRun{server: "ours", n: 4})
	r = result.New("browser", "ours,livekit", time.Now())
	b.fill(r)
	if len(r.FailedChecks()) != 1 {
		t.Errorf("failed checks %+v", r.FailedChecks())
	}
	if v, _, _ := r.Lookup("freezes"); v != 6 {
		t.Errorf("freezes %v with an empty run, want 6", v)
	}
}

// TestBenchFillSubscribers: with two subscribers every figure of the
// second is prefixed s2_, figures of the run (the publisher, CPU) come
// once, and metrics of a link only for the subscriber that has it.
func TestBenchFillSubscribers(t *testing.T) {
	run := func(server string, n int, fps2 float64) benchRun {
		r := fakeRun(server, n, 1, 30, 0)
		s2 := r.res.Subscribers[0]
		s2.Name, s2.Link, s2.LossDropped = "s2", Link{Loss: 0.05}, 40
		s2.Phases = nil
		s2.Video.FPSp50 = fps2
		r.res.Subscribers = append(r.res.Subscribers, s2)
		r.res.Publisher.LimitedShare = 0.25
		return r
	}
	b := &Bench{servers: []string{"ours", "livekit"}, links: []Link{{Shaping: Fixed(1_500_000)}, {Loss: 0.05}},
		runs: []benchRun{run("ours", 1, 18), run("livekit", 1, 24)}}
	r := result.New("browser", "ours,livekit", time.Now())
	b.fill(r)
	for name, want := range map[string]float64{
		"fps_p50": 30, "s2_fps_p50": 18, "livekit_s2_fps_p50": 24, "s2_fps_p50_ours_over_livekit": 0.75,
		"s2_loss_dropped": 40, "cap_share": 80, "publisher_limited": 25,
	} {
		if got, _, err := r.Lookup(name); err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", name, got, err, want)
		}
	}
	for _, absent := range []string{"s2_cap_share", "loss_dropped", "s2_publisher_limited"} {
		if v, _, err := r.Lookup(absent); err == nil {
			t.Errorf("%s = %v: not a figure of this bench", absent, v)
		}
	}
	if len(r.Checks) != 4 {
		t.Errorf("%d checks, want one per run and subscriber", len(r.Checks))
	}
}

// TestParseServerMetrics reads the edge's exposition and turns two
// readings into what changed between them.
func TestParseServerMetrics(t *testing.T) {
	expo := func(sum float64, count, probes int) string {
		return fmt.Sprintf(`# HELP spacecast_edge_subscriber_bandwidth_bps x
# TYPE spacecast_edge_subscriber_bandwidth_bps histogram
spacecast_edge_subscriber_bandwidth_bps_bucket{node="n",region="r",le="+Inf"} %d
spacecast_edge_subscriber_bandwidth_bps_sum{node="n",region="r"} %g
spacecast_edge_subscriber_bandwidth_bps_count{node="n",region="r"} %d
# HELP spacecast_edge_rtp_probe_packets_sent_total x
# TYPE spacecast_edge_rtp_probe_packets_sent_total counter
spacecast_edge_rtp_probe_packets_sent_total{node="n",region="r"} %d
# HELP spacecast_edge_rtp_packets_retransmitted_total x
# TYPE spacecast_edge_rtp_packets_retransmitted_total counter
spacecast_edge_rtp_packets_retransmitted_total 7
`, count, sum, count, probes)
	}
	t0 := time.Unix(100, 0)
	a, err := parseServerMetrics(strings.NewReader(expo(3e6, 3, 10)), t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseServerMetrics(strings.NewReader(expo(3e6+2*450_000, 5, 25)), t0.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s := secondBetween(a, b, t0)
	if s.T != 2 || s.Estimates != 2 || s.EstimateBps != 450_000 || s.Probes != 15 || s.Retransmitted != 0 {
		t.Fatalf("second %+v", s)
	}
	if _, err := parseServerMetrics(strings.NewReader("spacecast_edge_x{ 1\n"), t0); err == nil {
		t.Fatal("a broken exposition was read")
	}
}
