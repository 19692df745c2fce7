package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/internal/testenv"
)

func sample() *result.Result {
	r := result.New("rooms", "http://127.0.0.1:1", time.Now())
	r.Meta.DurationSec = 12
	h := hist.New()
	for i := 1; i <= 5000; i++ {
		h.RecordDuration(time.Duration(i%97+1) * 300 * time.Microsecond)
	}
	r.AddLatency("join", h)
	r.Add("loss", result.UnitPercent, 1.5, "packets lost per subscriber")
	r.Add("get_baseline_ratio", result.UnitRatio, 0.7, "")
	var loss, rate result.Series
	loss.Name, loss.Unit = "loss", result.UnitPercent
	rate.Name, rate.Unit = "bitrate", result.UnitBps
	for i := 0; i < 12; i++ {
		loss.Points = append(loss.Points, result.Point{T: float64(i), V: float64(i % 3)})
		rate.Points = append(rate.Points, result.Point{T: float64(i), V: 1e6 + float64(i)*1e4})
	}
	r.Series = append(r.Series, loss, rate)
	r.Sweeps = append(r.Sweeps, result.Sweep{Name: "get", Points: []result.SweepPoint{
		{OfferedPerSec: 1000, AchievedPerSec: 1000, P99Ms: 1}, {OfferedPerSec: 2000, AchievedPerSec: 1990, P99Ms: 2}, {OfferedPerSec: 4000, AchievedPerSec: 3100, P99Ms: 30},
	}})
	r.AddCheck("exactly_once", true, "200 links joined once")
	r.AddCheck("second_join_410", false, "1 of 20 second joins succeeded")
	r.Warn("a <warning> & more")
	r.Tables = append(r.Tables, result.Table{Name: "subscriber tracks", Label: "track", Columns: []string{"loss %", "kbps"},
		Rows: []result.TableRow{{Label: "p2 <- p1 audio", Values: []float64{0.5, 32}}}})
	return r
}

func TestText(t *testing.T) {
	var b bytes.Buffer
	r := sample()
	r.Resources.Generator.Name = "generator (2 processes)"
	if err := Text(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"join", "loss", "1.5 %", "FAIL second_join_410", "warning: a <warning>", "\ngenerator (2 processes): "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, sample()); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if n := strings.Count(s, "<svg"); n != 5 { // join distribution, 2 series units, 2 sweep charts
		t.Errorf("%d charts, want 5", n)
	}
	for _, bad := range []string{"<script", " src=", "href=", "<link"} {
		if strings.Contains(s, bad) {
			t.Errorf("report is not self-contained: holds %q", bad)
		}
	}
	if !strings.Contains(s, "p2 &lt;- p1 audio") || !strings.Contains(s, "<th>loss %</th>") {
		t.Error("table not rendered")
	}
	if !strings.Contains(s, "a &lt;warning&gt; &amp; more") {
		t.Error("warning not escaped")
	}
}

// TestHTMLRendersInChromium opens the report in headless Chromium and checks
// the screenshot holds a drawn page.
func TestHTMLRendersInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	testenv.Need(t, "chromium", err)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := WriteHTML(page, sample()); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := Screenshot(ctx, bin, page, shot, dir); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// A rendered report has many distinct colours (text, bars, lines).
	colors := map[uint32]bool{}
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y += 3 {
		for x := bnd.Min.X; x < bnd.Max.X; x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			colors[r>>8<<16|g>>8<<8|b>>8] = true
		}
	}
	if bnd.Dx() < 800 || len(colors) < 20 {
		t.Fatalf("screenshot %dx%d with %d colours: not a rendered report", bnd.Dx(), bnd.Dy(), len(colors))
	}
	if os.Getenv("BENCH_KEEP_SCREENSHOT") != "" {
		_ = os.WriteFile(os.Getenv("BENCH_KEEP_SCREENSHOT"), mustRead(t, shot), 0o644)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHTMLGroupedSweepsAndPlots(t *testing.T) {
	r := result.New("turn", "ours,coturn", time.Now())
	for _, name := range []string{"ours", "coturn"} {
		r.Sweeps = append(r.Sweeps, result.Sweep{Name: name, Group: "turn relay", Points: []result.SweepPoint{
			{OfferedPerSec: 1000, AchievedPerSec: 1000}, {OfferedPerSec: 2000, AchievedPerSec: 1800, LossPercent: 10},
		}})
	}
	r.Sweeps = append(r.Sweeps, result.Sweep{Name: "alone", Points: []result.SweepPoint{{OfferedPerSec: 1, AchievedPerSec: 1}}})
	r.Plots = append(r.Plots, result.Plot{Name: "join against N", XLabel: "nodes", Unit: result.UnitMs, LogX: true, Lines: []result.PlotLine{
		{Name: "join p99", Points: []result.XY{{X: 12, Y: 100}, {X: 50, Y: 180}, {X: 200, Y: 260}}},
		{Name: "empty"},
	}})
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	tests := []struct {
		name, want string
		count      int
	}{
		{name: "one throughput chart for the group", want: "turn relay: throughput against offered load", count: 2}, // aria-label and title
		{name: "one loss chart for the group", want: "turn relay: loss against offered load", count: 2},
		{name: "ungrouped sweep keeps its own chart", want: "alone: throughput against offered load", count: 2},
		{name: "both servers named in the legend", want: ">coturn</text>", count: 2},
		{name: "offered reference line", want: ">offered</text>", count: 1},
		{name: "plot drawn", want: "join against N", count: 2}, // aria-label and title
		{name: "plot section", want: "<h2>Scaling and cost</h2>", count: 1},
		{name: "N values are the ticks", want: ">12</text>", count: 1}, // X: 12 50 200; Y: 0 50 100 ...
		{name: "no decade ticks between", want: ">20</text>", count: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := strings.Count(s, tt.want); n != tt.count {
				t.Errorf("%q appears %d times, want %d", tt.want, n, tt.count)
			}
		})
	}
}
