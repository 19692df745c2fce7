package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spacecast/spacecast/bench/result"
)

// Text writes a readable summary of r.
func Text(w io.Writer, r *result.Result) error {
	m := r.Meta
	fmt.Fprintf(w, "\n== spacecast bench %s: %s, %.1fs, against %s\n", r.Scenario, m.Start.Format("2006-01-02 15:04:05Z"), m.DurationSec, target(m))
	fmt.Fprintf(w, "   machine: %s, %d CPUs (%s), %s, %s/%s\n", m.Hostname, m.CPUs, orNA(m.CPUModel), m.GoVersion, m.OS, m.Arch)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if len(r.Latencies) > 0 {
		fmt.Fprintln(tw, "\nlatency (ms)\tcount\tp50\tp95\tp99\tmax\t")
		for _, l := range r.Latencies {
			fmt.Fprintf(tw, "%s\t%d\t%.3g\t%.3g\t%.3g\t%.3g\t\n", l.Name, l.Count, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs)
		}
	}
	if len(r.Metrics) > 0 {
		fmt.Fprintln(tw, "\nmetric\tvalue\t")
		for _, x := range r.Metrics {
			fmt.Fprintf(tw, "%s\t%s\t\n", x.Name, valueUnit(x.Value, x.Unit))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	res := r.Resources
	gen := "generator"
	if n := res.Generator.Name; strings.HasPrefix(n, "generator") {
		gen = n // "generator (3 processes)", "generator (none: ...)"
	}
	fmt.Fprintf(w, "\n%s: %.0f%% CPU (max %.0f%%), %.0f MiB", gen, res.Generator.CPUPercent, res.Generator.CPUPercentMax, res.Generator.RSSMaxBytes/(1<<20))
	if res.GeneratorLimited {
		fmt.Fprint(w, "  << LIMITED BY THE GENERATOR")
	}
	fmt.Fprintln(w)
	for _, s := range res.Servers {
		fmt.Fprintf(w, "server %s (%s): %.0f%% CPU (max %.0f%%), %.0f MiB\n", s.Name, s.Source, s.CPUPercent, s.CPUPercentMax, s.RSSMaxBytes/(1<<20))
	}
	for _, c := range r.Checks {
		v := "ok  "
		if !c.OK {
			v = "FAIL"
		}
		fmt.Fprintf(w, "check %s %s: %s\n", v, c.Name, c.Detail)
	}
	for _, t := range r.Tables {
		fmt.Fprintf(w, "table %q: %d rows (in the JSON result and the HTML report)\n", t.Name, len(t.Rows))
	}
	for _, x := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
	return nil
}

func target(m result.Meta) string {
	if m.SelfContained {
		return m.Target + " (self-contained)"
	}
	return m.Target
}

func orNA(s string) string {
	if s == "" {
		return "cpu n/a"
	}
	return s
}

func valueUnit(v float64, unit string) string {
	switch unit {
	case result.UnitBytes:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case result.UnitBps:
		return fmt.Sprintf("%.1f kbps", v/1e3)
	case result.UnitCount, "":
		return fmt.Sprintf("%.6g", v)
	case result.UnitRatio:
		return fmt.Sprintf("%.3f (%.1f%%)", v, 100*v)
	}
	return fmt.Sprintf("%.4g %s", v, unit)
}

type page struct {
	R         *result.Result
	Target    string
	Latencies []template.HTML
	Series    []template.HTML
	Sweeps    []template.HTML
	Plots     []template.HTML
	Config    string
}

// HTML writes the self-contained report page.
func HTML(w io.Writer, r *result.Result) error {
	p := page{R: r, Target: target(r.Meta)}
	for _, l := range r.Latencies {
		if c := latencyChart(l); c != "" {
			p.Latencies = append(p.Latencies, c)
		}
	}
	// One chart per unit, so loss, bitrate and CPU each get their scale.
	byUnit := map[string][]line{}
	var units []string
	for _, s := range r.Series {
		if len(s.Points) == 0 {
			continue
		}
		l := line{name: s.Name}
		for _, pt := range s.Points {
			l.xs, l.ys = append(l.xs, pt.T), append(l.ys, pt.V)
		}
		if _, ok := byUnit[s.Unit]; !ok {
			units = append(units, s.Unit)
		}
		byUnit[s.Unit] = append(byUnit[s.Unit], l)
	}
	sort.Strings(units)
	for _, u := range units {
		p.Series = append(p.Series, lineChart(seriesTitle(u), "seconds since start", u, byUnit[u]))
	}
	p.Sweeps = sweepCharts(r.Sweeps)
	for _, pl := range r.Plots {
		var ls []line
		for _, l := range pl.Lines {
			if len(l.Points) == 0 {
				continue
			}
			ln := line{name: l.Name}
			for _, pt := range l.Points {
				ln.xs, ln.ys = append(ln.xs, pt.X), append(ln.ys, pt.Y)
			}
			ls = append(ls, ln)
		}
		if len(ls) > 0 {
			p.Plots = append(p.Plots, chart(pl.Name, pl.XLabel, pl.Unit, ls, pl.LogX))
		}
	}
	if r.Config != nil {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // the template escapes
		enc.SetIndent("", "  ")
		_ = enc.Encode(r.Config)
		p.Config = b.String()
	}
	return pageTmpl.Execute(w, p)
}

// sweepCharts draws each sweep's throughput (and p99 and loss when it
// has them) against offered load. Sweeps of one Group share their charts,
// one line per sweep, with the offered load as a reference line.
func sweepCharts(sweeps []result.Sweep) []template.HTML {
	var out []template.HTML
	type group struct {
		name            string
		ach, p99, loss  []line
		hasP99, hasLoss bool
		grouped         bool
		maxOffered      float64
		minOffered      float64
	}
	var groups []*group
	byName := map[string]*group{}
	for _, s := range sweeps {
		g := byName[s.Group]
		if g == nil || s.Group == "" {
			g = &group{name: s.Name, grouped: s.Group != "", minOffered: -1}
			if s.Group != "" {
				g.name = s.Group
				byName[s.Group] = g
			}
			groups = append(groups, g)
		}
		ach, p99, loss := line{name: "achieved /s"}, line{name: "p99 ms"}, line{name: "loss %"}
		if g.grouped {
			ach.name, p99.name, loss.name = s.Name, s.Name, s.Name
		}
		for _, pt := range s.Points {
			ach.xs, ach.ys = append(ach.xs, pt.OfferedPerSec), append(ach.ys, pt.AchievedPerSec)
			p99.xs, p99.ys = append(p99.xs, pt.OfferedPerSec), append(p99.ys, pt.P99Ms)
			loss.xs, loss.ys = append(loss.xs, pt.OfferedPerSec), append(loss.ys, pt.LossPercent)
			g.hasP99, g.hasLoss = g.hasP99 || pt.P99Ms > 0, g.hasLoss || pt.LossPercent > 0
			g.maxOffered = max(g.maxOffered, pt.OfferedPerSec)
			if g.minOffered < 0 || pt.OfferedPerSec < g.minOffered {
				g.minOffered = pt.OfferedPerSec
			}
		}
		g.ach, g.p99, g.loss = append(g.ach, ach), append(g.p99, p99), append(g.loss, loss)
	}
	for _, g := range groups {
		ach := g.ach
		if g.grouped && g.maxOffered > 0 {
			ach = append(ach, line{name: "offered", xs: []float64{g.minOffered, g.maxOffered}, ys: []float64{g.minOffered, g.maxOffered}})
		}
		out = append(out, lineChart(g.name+": throughput against offered load", "offered /s", "achieved /s", ach))
		if g.hasP99 {
			out = append(out, lineChart(g.name+": p99 latency against offered load", "offered /s", "ms", g.p99))
		}
		if g.hasLoss {
			out = append(out, lineChart(g.name+": loss against offered load", "offered /s", "%", g.loss))
		}
	}
	return out
}

func seriesTitle(unit string) string {
	switch unit {
	case result.UnitPercent:
		return "percentages over time"
	case result.UnitBps:
		return "bitrate over time"
	case result.UnitPerSec:
		return "throughput over time"
	case result.UnitMs:
		return "latency over time"
	}
	return unit + " over time"
}

// WriteHTML writes the report page to path.
func WriteHTML(path string, r *result.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := HTML(f, r); err != nil {
		_ = f.Close()
		return fmt.Errorf("report: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"val": valueUnit,
	"mib": func(b float64) string { return fmt.Sprintf("%.0f", b/(1<<20)) },
	"gib": func(b uint64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<30)) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>spacecast bench {{.R.Scenario}} — {{.R.Meta.Start.Format "2006-01-02 15:04Z"}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1340px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}.charts svg{margin:6px;border:1px solid #ddd}
.bad{color:#b00;font-weight:bold}.ok{color:#070}.warn{background:#fff4d6;padding:6px 10px;margin:4px 0}
pre{background:#f6f6f6;padding:8px;font-size:12px}
</style></head><body>
<h1>spacecast bench {{.R.Scenario}}</h1>
<p>Started {{.R.Meta.Start.Format "2006-01-02 15:04:05Z"}}, {{printf "%.1f" .R.Meta.DurationSec}} s, against <b>{{.Target}}</b>.<br>
Machine {{.R.Meta.Hostname}}: {{.R.Meta.CPUs}} CPUs ({{.R.Meta.CPUModel}}), {{gib .R.Meta.MemTotalBytes}} GiB RAM, {{.R.Meta.GoVersion}} {{.R.Meta.OS}}/{{.R.Meta.Arch}}, GOMAXPROCS {{.R.Meta.GOMAXPROCS}}.</p>
{{range .R.Warnings}}<div class="warn">⚠ {{.}}</div>{{end}}
{{if .R.Checks}}<h2>Checks</h2><table><tr><th>check</th><th>result</th><th>detail</th></tr>
{{range .R.Checks}}<tr><td>{{.Name}}</td><td class="{{if .OK}}ok{{else}}bad{{end}}">{{if .OK}}pass{{else}}FAIL{{end}}</td><td style="text-align:left">{{.Detail}}</td></tr>{{end}}</table>{{end}}
{{if .R.Latencies}}<h2>Latency</h2><table><tr><th>operation</th><th>count</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>
{{range .R.Latencies}}<tr><td>{{.Name}}</td><td>{{.Count}}</td><td>{{printf "%.3g" .P50Ms}}</td><td>{{printf "%.3g" .P95Ms}}</td><td>{{printf "%.3g" .P99Ms}}</td><td>{{printf "%.3g" .MaxMs}}</td></tr>{{end}}</table>
<div class="charts">{{range .Latencies}}{{.}}{{end}}</div>{{end}}
<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>meaning</th></tr>
{{range .R.Metrics}}<tr><td>{{.Name}}</td><td>{{val .Value .Unit}}</td><td style="text-align:left">{{.Help}}</td></tr>{{end}}</table>
{{range .R.Tables}}<h2>{{.Name}}</h2><table><tr><th>{{.Label}}</th>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range $i, $row := .Rows}}{{if lt $i 500}}<tr><td>{{$row.Label}}</td>{{range $row.Values}}<td>{{printf "%.4g" .}}</td>{{end}}</tr>{{end}}{{end}}</table>{{if gt (len .Rows) 500}}<p>{{len .Rows}} rows: the first 500 are shown, every row is in the JSON result.</p>{{end}}{{end}}
{{if .Sweeps}}<h2>Throughput against load</h2><div class="charts">{{range .Sweeps}}{{.}}{{end}}</div>{{end}}
{{if .Plots}}<h2>Scaling and cost</h2><div class="charts">{{range .Plots}}{{.}}{{end}}</div>{{end}}
{{if .Series}}<h2>Over time</h2><div class="charts">{{range .Series}}{{.}}{{end}}</div>{{end}}
<h2>Resources</h2><table><tr><th>process</th><th>source</th><th>mean CPU %</th><th>max CPU %</th><th>max RSS MiB</th></tr>
{{with .R.Resources.Generator}}<tr><td>{{.Name}}{{if $.R.Resources.GeneratorLimited}} <span class="bad">(limited the run)</span>{{end}}</td><td>{{.Source}}</td><td>{{printf "%.0f" .CPUPercent}}</td><td>{{printf "%.0f" .CPUPercentMax}}</td><td>{{mib .RSSMaxBytes}}</td></tr>{{end}}
{{range .R.Resources.Servers}}<tr><td>{{.Name}}</td><td>{{.Source}}</td><td>{{printf "%.0f" .CPUPercent}}</td><td>{{printf "%.0f" .CPUPercentMax}}</td><td>{{mib .RSSMaxBytes}}</td></tr>{{end}}</table>
{{if .Config}}<h2>Scenario configuration</h2><pre>{{.Config}}</pre>{{end}}
</body></html>
`))
