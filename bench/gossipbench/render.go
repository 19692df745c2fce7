package gossipbench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// Table writes the report as an aligned text table (also valid Markdown).
func Table(w io.Writer, r Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| N | form | join p50 | join p99 | join p99 (per member) | detect first p50 | detect all p50 | detect all p99 | idle B/s/node (mean / max) | false failures | missed |\n")
	fmt.Fprintf(&b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %.0f / %.0f | %d | %d |\n",
			row.N, dur(row.FormMs), dur(row.JoinP50Ms), dur(row.JoinP99Ms), dur(row.JoinObserverP99Ms),
			dur(row.DetectFirstP50Ms), dur(row.DetectAllP50Ms), dur(row.DetectAllP99Ms),
			row.IdleBytesPerSec, row.IdleMaxBytesPerSec, row.FalseFailures, row.Missed)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dur(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// JSON writes the report as indented JSON.
func JSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// series is one line of a chart.
type series struct {
	name  string
	color string
	vals  func(Row) float64
}

// SVG writes two charts against N side by side: convergence and detection
// times (seconds, with the 1 s and 3 s targets), and idle bytes per node
// (with the 1 KB/s target).
func SVG(w io.Writer, r Report) error {
	const W, H = 960, 380
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	times := []series{
		{"join p50", "#1f77b4", func(r Row) float64 { return r.JoinP50Ms / 1000 }},
		{"join p99", "#aec7e8", func(r Row) float64 { return r.JoinP99Ms / 1000 }},
		{"detect all p50", "#d62728", func(r Row) float64 { return r.DetectAllP50Ms / 1000 }},
		{"detect all p99", "#ff9896", func(r Row) float64 { return r.DetectAllP99Ms / 1000 }},
	}
	bytes := []series{
		{"idle mean", "#2ca02c", func(r Row) float64 { return r.IdleBytesPerSec }},
		{"idle max", "#98df8a", func(r Row) float64 { return r.IdleMaxBytesPerSec }},
	}
	panel(&b, r.Rows, 0, "Convergence and failure detection", "seconds", times, []target{{1, "join target 1 s"}, {3, "detect target 3 s"}})
	panel(&b, r.Rows, W/2, "Idle gossip traffic per node", "bytes/s", bytes, []target{{1024, "1 KB/s target"}})
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type target struct {
	v     float64
	label string
}

func panel(b *strings.Builder, rows []Row, x0 int, title, unit string, ss []series, targets []target) {
	const pw, ph, padL, padR, padT, padB = 480, 380, 60, 20, 40, 70
	if len(rows) == 0 {
		return
	}
	minN, maxN := float64(rows[0].N), float64(rows[0].N)
	maxY := 0.0
	for _, r := range rows {
		minN, maxN = math.Min(minN, float64(r.N)), math.Max(maxN, float64(r.N))
		for _, s := range ss {
			maxY = math.Max(maxY, s.vals(r))
		}
	}
	for _, t := range targets {
		maxY = math.Max(maxY, t.v*1.1)
	}
	maxY *= 1.1
	if maxY == 0 {
		maxY = 1
	}
	// x is logarithmic in N (10, 50, 200 spread evenly enough).
	lx := func(n float64) float64 {
		if maxN == minN {
			return float64(x0+padL) + float64(pw-padL-padR)/2
		}
		return float64(x0+padL) + (math.Log(n)-math.Log(minN))/(math.Log(maxN)-math.Log(minN))*float64(pw-padL-padR)
	}
	ly := func(v float64) float64 { return float64(ph-padB) - v/maxY*float64(ph-padT-padB) }
	fmt.Fprintf(b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", x0+padL, title)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0+padL, ph-padB, x0+pw-padR, ph-padB)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0+padL, padT, x0+padL, ph-padB)
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0+padL-5, ly(v)+4, num(v))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" transform="rotate(-90 %d %d)" text-anchor="middle">%s</text>`+"\n", x0+15, ph/2, x0+15, ph/2, unit)
	for _, r := range rows {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", lx(float64(r.N)), ph-padB+16, r.N)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">nodes (N)</text>`+"\n", x0+pw/2, ph-padB+32)
	for _, t := range targets {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#999" stroke-dasharray="4 3"/>`+"\n", x0+padL, ly(t.v), x0+pw-padR, ly(t.v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" fill="#666" text-anchor="end">%s</text>`+"\n", x0+pw-padR, ly(t.v)-3, t.label)
	}
	for i, s := range ss {
		var pts []string
		for _, r := range rows {
			x, y := lx(float64(r.N)), ly(s.vals(r))
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x, y, s.color)
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), s.color)
		lxp, lyp := x0+padL+(i%2)*200, ph-padB+48+(i/2)*16
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="4" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", lxp, lyp-4, s.color, lxp+16, lyp, s.name)
	}
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
