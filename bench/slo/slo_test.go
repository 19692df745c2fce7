package slo

import (
	"errors"
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
	"github.com/spacecast/spacecast/bench/result"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Rule
		wantErr bool
	}{
		{name: "empty", in: "  "},
		{name: "issue example", in: "join_p99<500ms,loss<1%", want: []Rule{
			{Metric: "join_p99", Op: Less, Value: 500, dim: dimTime},
			{Metric: "loss", Op: Less, Value: 1, dim: dimPercent},
		}},
		{name: "seconds and spaces", in: " get_p99 <= 0.005s ", want: []Rule{{Metric: "get_p99", Op: LessEq, Value: 5, dim: dimTime}}},
		{name: "rate", in: "join_rps>=5000/s", want: []Rule{{Metric: "join_rps", Op: GreaterEq, Value: 5000, dim: dimRate}}},
		{name: "bitrate", in: "bitrate>1.5Mbps", want: []Rule{{Metric: "bitrate", Op: Greater, Value: 1.5e6, dim: dimBitrate}}},
		{name: "byte rate", in: "idle<1KiB/s", want: []Rule{{Metric: "idle", Op: Less, Value: 1024, dim: dimByteRate}}},
		{name: "bytes per second", in: "idle<=500B/s", want: []Rule{{Metric: "idle", Op: LessEq, Value: 500, dim: dimByteRate}}},
		{name: "plain", in: "ratio>0.6", want: []Rule{{Metric: "ratio", Op: Greater, Value: 0.6, dim: dimNone}}},
		{name: "exponent", in: "x<1e3ms", want: []Rule{{Metric: "x", Op: Less, Value: 1000, dim: dimTime}}},
		{name: "no op", in: "join_p99", wantErr: true},
		{name: "equals", in: "a=1", wantErr: true},
		{name: "no name", in: "<1", wantErr: true},
		{name: "no value", in: "a<", wantErr: true},
		{name: "bad number", in: "a<fast", wantErr: true},
		{name: "bad unit", in: "a<5parsecs", wantErr: true},
		{name: "stray comma", in: "a<1,,b<2", wantErr: true},
		{name: "bad name", in: "a b<1", wantErr: true},
		{name: "NaN", in: "a<NaN", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("Parse(%q) err = %v, want ErrSyntax", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Parse(%q) = %+v", tt.in, got)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Metric != w.Metric || g.Op != w.Op || g.dim != w.dim || g.Value < w.Value*0.999999 || g.Value > w.Value*1.000001 {
					t.Fatalf("rule %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	r := result.New("rooms", "", time.Now())
	r.Add("loss", result.UnitPercent, 2.5, "")
	r.Add("get_baseline_ratio", result.UnitRatio, 0.7, "")
	r.Add("cpu_per_packet", result.UnitUs, 2.5, "")
	r.Add("idle_bytes_per_node", result.UnitBytesPerSec, 600, "")
	h := hist.New()
	h.RecordDuration(300 * time.Millisecond)
	r.AddLatency("join", h)

	tests := []struct {
		name    string
		in      string
		ok      []bool
		wantErr error
	}{
		{name: "join ok loss broken", in: "join_p99<500ms,loss<1%", ok: []bool{true, false}},
		{name: "join broken", in: "join_p99<0.2s", ok: []bool{false}},
		{name: "ratio as percent", in: "get_baseline_ratio>=60%", ok: []bool{true}},
		{name: "ratio plain", in: "get_baseline_ratio>=0.8", ok: []bool{false}},
		{name: "microseconds metric", in: "cpu_per_packet<3us,cpu_per_packet<0.002ms", ok: []bool{true, false}},
		{name: "byte rate", in: "idle_bytes_per_node<1KB/s,idle_bytes_per_node<500B/s", ok: []bool{true, false}},
		{name: "byte rate is not a bitrate", in: "idle_bytes_per_node<1kbps", wantErr: ErrUnits},
		{name: "unknown metric", in: "jion_p99<1s", wantErr: result.ErrUnknownMetric},
		{name: "unit mismatch", in: "loss<5ms", wantErr: ErrUnits},
		{name: "missing unit", in: "join_p99<500", wantErr: ErrUnits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Check(r, rules)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range out {
				if o.OK != tt.ok[i] {
					t.Fatalf("outcome %d = %v", i, o)
				}
			}
		})
	}
}
