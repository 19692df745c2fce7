package gossipbench

import (
	"bytes"
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/gossip"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cfg := Config{Sizes: []int{3, 6}, Profile: gossip.ProfileLocal, Joins: 2, Kills: 1, Idle: 300 * time.Millisecond, Encrypt: true, Timeout: 10 * time.Second}
	rep, err := Run(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 {
		t.Fatalf("rows = %+v", rep.Rows)
	}
	for _, r := range rep.Rows {
		if r.Missed != 0 || r.JoinP99Ms <= 0 || r.IdleBytesPerSec <= 0 {
			t.Fatalf("row %+v", r)
		}
	}
	if rep.Rows[1].DetectAllP50Ms <= 0 {
		t.Fatalf("no failure measured at N=6: %+v", rep.Rows[1])
	}
	var tbl, svg, js bytes.Buffer
	if err := Table(&tbl, rep); err != nil || strings.Count(tbl.String(), "\n") != 4 {
		t.Fatalf("table %q %v", tbl.String(), err)
	}
	if err := SVG(&svg, rep); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg.Bytes(), new(struct{})); err != nil {
		t.Fatalf("SVG is not well-formed XML: %v", err)
	}
	if err := JSON(&js, rep); err != nil || !strings.Contains(js.String(), `"joinP99Ms"`) {
		t.Fatalf("json %v", err)
	}
}

func TestRunRejects(t *testing.T) {
	if _, err := Run(context.Background(), Config{Sizes: []int{1}, Profile: gossip.ProfileLocal}, nil); err == nil {
		t.Fatal("size 1 accepted")
	}
	if _, err := Run(context.Background(), Config{Sizes: []int{3}, Profile: "fast"}, nil); err == nil {
		t.Fatal("bad profile accepted")
	}
}

func TestPct(t *testing.T) {
	vs := []float64{5, 1, 4, 2, 3}
	for p, want := range map[float64]float64{50: 3, 99: 5, 1: 1} {
		if got := pct(vs, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
}
