package result

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
)

func TestLookupAndRoundTrip(t *testing.T) {
	r := New("api", "http://x", time.Now())
	r.Add("get_rps", UnitPerSec, 1234, "")
	h := hist.New()
	for i := 1; i <= 100; i++ {
		h.RecordDuration(time.Duration(i) * time.Millisecond)
	}
	r.AddLatency("get", h)
	r.AddCheck("exactly_once", false, "2 of 3")

	tests := []struct {
		name     string
		want     float64
		wantUnit string
		wantErr  bool
	}{
		{name: "get_rps", want: 1234, wantUnit: UnitPerSec},
		{name: "get_p99", want: 99, wantUnit: UnitMs},
		{name: "get_max", want: 100, wantUnit: UnitMs},
		{name: "get_count", want: 100, wantUnit: UnitCount},
		{name: "get_p42", wantErr: true},
		{name: "nope", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, u, err := r.Lookup(tt.name)
			if tt.wantErr {
				if !errors.Is(err, ErrUnknownMetric) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || u != tt.wantUnit || v < tt.want*0.98 || v > tt.want*1.02 {
				t.Fatalf("Lookup = %v %q %v, want %v %q", v, u, err, tt.want, tt.wantUnit)
			}
		})
	}
	if len(r.FailedChecks()) != 1 {
		t.Fatal("failed check not reported")
	}
	if r.Meta.CPUs < 1 || r.Meta.GoVersion == "" {
		t.Fatalf("meta not filled: %+v", r.Meta)
	}
	p := filepath.Join(t.TempDir(), "r.json")
	if err := r.Write(p); err != nil {
		t.Fatal(err)
	}
	back, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := back.Lookup("get_p99"); v != r.Latencies[0].P99Ms {
		t.Fatalf("round trip lost p99: %v", v)
	}
}
