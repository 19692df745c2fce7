package report

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"

	"github.com/spacecast/spacecast/bench/result"
)

const (
	chartW = 640
	chartH = 240
	padL   = 64
	padR   = 16
	padT   = 24
	padB   = 40
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

type axis struct {
	min, max float64
	log      bool
	ticks    []float64 // when set, these instead of computed ones
}

func (a axis) pos(v float64, lo, hi float64) float64 {
	if a.log {
		v, a.min, a.max = math.Log10(math.Max(v, 1e-9)), math.Log10(a.min), math.Log10(a.max)
	}
	if a.max == a.min {
		return (lo + hi) / 2
	}
	return lo + (v-a.min)/(a.max-a.min)*(hi-lo)
}

// niceTicks returns about n round values spanning [min, max].
func niceTicks(min, max float64, n int) []float64 {
	if max <= min {
		return []float64{min}
	}
	raw := (max - min) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(min/step) * step; v <= max+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

func logTicks(min, max float64) []float64 {
	var out []float64
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= min*0.999 && v <= max*1.001 {
				out = append(out, v)
			}
		}
	}
	return out
}

func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

type line struct {
	name string
	xs   []float64
	ys   []float64
}

type frame struct {
	b      strings.Builder
	x, y   axis
	title  string
	xLabel string
	yLabel string
}

func newFrame(title, xLabel, yLabel string, x, y axis) *frame {
	f := &frame{x: x, y: y, title: title, xLabel: xLabel, yLabel: yLabel}
	fmt.Fprintf(&f.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, chartH, chartW, chartH, template.HTMLEscapeString(title))
	fmt.Fprintf(&f.b, `<rect width="100%%" height="100%%" fill="#fff"/><text x="%d" y="16" font-size="13" font-weight="bold">%s</text>`, padL, template.HTMLEscapeString(title))
	var ticks []float64
	switch {
	case len(x.ticks) > 0:
		ticks = x.ticks
	case x.log:
		ticks = logTicks(x.min, x.max)
	default:
		ticks = niceTicks(x.min, x.max, 6)
	}
	for _, t := range ticks {
		px := f.px(t)
		fmt.Fprintf(&f.b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/><text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>`, px, padT, px, chartH-padB, px, chartH-padB+14, fmtNum(t))
	}
	for _, t := range niceTicks(y.min, y.max, 5) {
		py := f.py(t)
		fmt.Fprintf(&f.b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`, padL, py, chartW-padR, py, padL-4, py+3, fmtNum(t))
	}
	fmt.Fprintf(&f.b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`, padL, padT, chartW-padL-padR, chartH-padT-padB)
	fmt.Fprintf(&f.b, `<text x="%d" y="%d" font-size="11" text-anchor="middle">%s</text>`, (padL+chartW-padR)/2, chartH-6, template.HTMLEscapeString(xLabel))
	fmt.Fprintf(&f.b, `<text x="12" y="%d" font-size="11" text-anchor="middle" transform="rotate(-90 12 %d)">%s</text>`, (padT+chartH-padB)/2, (padT+chartH-padB)/2, template.HTMLEscapeString(yLabel))
	return f
}

func (f *frame) px(v float64) float64 { return f.x.pos(v, padL, chartW-padR) }
func (f *frame) py(v float64) float64 { return f.y.pos(v, chartH-padB, padT) }

func (f *frame) lines(ls []line) {
	for i, l := range ls {
		color := palette[i%len(palette)]
		var pts []string
		for j := range l.xs {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", f.px(l.xs[j]), f.py(l.ys[j])))
		}
		fmt.Fprintf(&f.b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`, color, strings.Join(pts, " "))
		if len(l.xs) <= 30 {
			for j := range l.xs {
				fmt.Fprintf(&f.b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`, f.px(l.xs[j]), f.py(l.ys[j]), color)
			}
		}
		if len(ls) > 1 || l.name != "" {
			fmt.Fprintf(&f.b, `<rect x="%d" y="%d" width="10" height="3" fill="%s"/><text x="%d" y="%d" font-size="10">%s</text>`, chartW-padR-170, padT+8+i*13, color, chartW-padR-156, padT+12+i*13, template.HTMLEscapeString(l.name))
		}
	}
}

func (f *frame) html() template.HTML {
	f.b.WriteString(`</svg>`)
	return template.HTML(f.b.String()) // built from escaped parts only
}

func bounds(ls []line) (x, y axis) {
	x.min, x.max = math.Inf(1), math.Inf(-1)
	y.max = math.Inf(-1)
	for _, l := range ls {
		for i := range l.xs {
			x.min, x.max = math.Min(x.min, l.xs[i]), math.Max(x.max, l.xs[i])
			y.max = math.Max(y.max, l.ys[i])
		}
	}
	if math.IsInf(x.min, 0) {
		x.min, x.max, y.max = 0, 1, 1
	}
	if y.max <= 0 {
		y.max = 1
	}
	y.max *= 1.1
	return x, y
}

// lineChart draws series that share a unit.
func lineChart(title, xLabel, yLabel string, ls []line) template.HTML {
	return chart(title, xLabel, yLabel, ls, false)
}

// chart draws series that share a unit, X on a log scale when logX (and
// every X is positive).
func chart(title, xLabel, yLabel string, ls []line, logX bool) template.HTML {
	x, y := bounds(ls)
	x.log = logX && x.min > 0 && x.max > x.min
	if x.log {
		// On a log axis (sizes such as 10, 50, 200) the X values
		// themselves are the best ticks.
		seen := map[float64]bool{}
		for _, l := range ls {
			for _, v := range l.xs {
				if !seen[v] {
					seen[v] = true
					x.ticks = append(x.ticks, v)
				}
			}
		}
		sort.Float64s(x.ticks)
		if len(x.ticks) > 12 {
			x.ticks = nil
		}
	}
	f := newFrame(title, xLabel, yLabel, x, y)
	f.lines(ls)
	return f.html()
}

// latencyChart draws a distribution as bars on a logarithmic time axis,
// with the p50 and p99 marked.
func latencyChart(l result.Latency) template.HTML {
	if len(l.Buckets) == 0 {
		return ""
	}
	lo := l.Buckets[0].LeMs / 1.3
	if lo <= 0 {
		lo = 0.001
	}
	hi := l.Buckets[len(l.Buckets)-1].LeMs * 1.1
	var peak uint64
	for _, b := range l.Buckets {
		peak = max(peak, b.Count)
	}
	f := newFrame(fmt.Sprintf("%s latency (n=%d)", l.Name, l.Count), "milliseconds (log)", "requests", axis{min: lo, max: hi, log: true}, axis{max: float64(peak) * 1.1})
	prev := lo
	for _, b := range l.Buckets {
		x0, x1 := f.px(math.Max(prev, b.LeMs/1.26)), f.px(b.LeMs)
		y := f.py(float64(b.Count))
		fmt.Fprintf(&f.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#1f77b4" opacity="0.8"/>`, x0, y, math.Max(1, x1-x0-1), float64(chartH-padB)-y)
		prev = b.LeMs
	}
	for _, m := range []struct {
		name string
		v    float64
		c    string
	}{{"p50", l.P50Ms, "#2ca02c"}, {"p99", l.P99Ms, "#d62728"}} {
		if m.v <= lo || m.v >= hi {
			continue
		}
		x := f.px(m.v)
		anchor, tx := "start", x+3
		if x > chartW-padR-90 {
			anchor, tx = "end", x-3
		}
		fmt.Fprintf(&f.b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-dasharray="4 3"/><text x="%.1f" y="%d" font-size="10" fill="%s" text-anchor="%s">%s %.3g ms</text>`, x, padT, x, chartH-padB, m.c, tx, padT+12+12*boolInt(m.name == "p99"), m.c, anchor, m.name, m.v)
	}
	return f.html()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
