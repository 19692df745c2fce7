package roomsbench

import (
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
	"github.com/spacecast/spacecast/bench/participant"
	"github.com/spacecast/spacecast/bench/result"
)

func TestCollectorFill(t *testing.T) {
	origin := time.Unix(1000, 0)
	owd := hist.New()
	for i := 0; i < 100; i++ {
		owd.RecordDuration(2 * time.Millisecond)
	}
	cfg := DefaultConfig()
	cfg.Rooms, cfg.Participants, cfg.Publishers = 1, 2, 1 // one publisher, one subscriber: 2 tracks
	tests := []struct {
		name     string
		events   []participant.Event
		loss     float64
		lossMax  float64
		tracksOK bool
		peakLoss float64
	}{
		{
			name: "clean",
			events: []participant.Event{
				{Ev: "joined", ID: "a", RestMs: 2, SignalMs: 20, T: origin.UnixNano()},
				{Ev: "joined", ID: "b", RestMs: 3, SignalMs: 30, T: origin.Add(time.Second).UnixNano()},
				{Ev: "first_rtp", ID: "b", FirstRTPMs: 50},
				{Ev: "tick", T: origin.Add(time.Second).UnixNano(), Bytes: 1000, Packets: 100, Expected: 100},
				{Ev: "track", ID: "b", Kind: "video", Packets: 300, Expected: 300, Bytes: 300000, Seconds: 3, JitterMs: 1, OWD: owd.Raw()},
				{Ev: "track", ID: "b", Kind: "audio", Packets: 150, Expected: 150, Bytes: 15000, Seconds: 3, JitterMs: 3},
			},
			tracksOK: true,
		},
		{
			name: "lossy audio, missing track",
			events: []participant.Event{
				{Ev: "joined", ID: "b", RestMs: 3, SignalMs: 30, T: origin.UnixNano()},
				{Ev: "tick", T: origin.Add(2 * time.Second).UnixNano(), Packets: 50, Expected: 100},
				{Ev: "track", ID: "b", Kind: "audio", Packets: 75, Expected: 150, Bytes: 7500, Seconds: 3},
				{Ev: "error", ID: "a", Msg: "join: HTTP 410"},
			},
			loss: 50, lossMax: 50, peakLoss: 50,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(origin)
			for _, e := range tt.events {
				c.add(0, e)
			}
			r := result.New("rooms", "", origin.Add(-time.Second))
			c.fill(r, cfg, 2)
			get := func(n string) float64 {
				v, _, err := r.Lookup(n)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			if get("loss") != tt.loss || get("loss_max") != tt.lossMax {
				t.Errorf("loss = %v / max %v, want %v / %v", get("loss"), get("loss_max"), tt.loss, tt.lossMax)
			}
			if ok := len(r.FailedChecks()) == 0; ok != tt.tracksOK {
				t.Errorf("checks = %+v", r.Checks)
			}
			var peak float64
			for _, s := range r.Series {
				if s.Unit == result.UnitPercent {
					for _, p := range s.Points {
						peak = max(peak, p.V)
						if p.T < 1 {
							t.Errorf("series point at %v s: not shifted to the run's start", p.T)
						}
					}
				}
			}
			if peak != tt.peakLoss {
				t.Errorf("peak loss over time = %v, want %v", peak, tt.peakLoss)
			}
		})
	}
	// The clean case's figures in detail.
	c := newCollector(origin)
	for _, e := range tests[0].events {
		c.add(0, e)
	}
	r := result.New("rooms", "", origin)
	c.fill(r, cfg, 2)
	if len(r.Tables) != 1 || len(r.Tables[0].Rows) != 2 || r.Tables[0].Rows[1].Values[4] != 800 {
		t.Errorf("subscriber table = %+v", r.Tables)
	}
	for name, want := range map[string]float64{"joined": 2, "join_rest_p50": 2, "join_max": 30, "first_rtp_p50": 50, "owd_p50": 2, "jitter": 2, "subscriber_bitrate": 840000, "join_rate": 1} {
		v, _, err := r.Lookup(name)
		if err != nil || v < want*0.97 || v > want*1.03 {
			t.Errorf("%s = %v (%v), want %v", name, v, err, want)
		}
	}
}

func eventTick(at time.Time, packets uint64) participant.Event {
	return participant.Event{Ev: "tick", T: at.UnixNano(), Packets: packets, Expected: packets}
}
