package compare

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/spacecast/spacecast/bench/result"
)

// Row is one metric of both runs.
type Row struct {
	Name    string
	Unit    string
	Base    float64
	Current float64
	Ratio   float64 // Current / Base; NaN when Base is 0
	Verdict string  // "better", "worse", "same" or "" (no preferred direction)
}

// Rows lines up the metrics and latency percentiles that base and cur both
// hold, in cur's order.
func Rows(base, cur *result.Result) []Row {
	var rows []Row
	add := func(name, unit string, c float64) {
		b, _, err := base.Lookup(name)
		if err != nil {
			return
		}
		row := Row{Name: name, Unit: unit, Base: b, Current: c, Ratio: math.NaN()}
		if b != 0 {
			row.Ratio = c / b
		}
		row.Verdict = verdict(unit, name, b, c)
		rows = append(rows, row)
	}
	for _, m := range cur.Metrics {
		add(m.Name, m.Unit, m.Value)
	}
	for _, l := range cur.Latencies {
		add(l.Name+"_p50", result.UnitMs, l.P50Ms)
		add(l.Name+"_p99", result.UnitMs, l.P99Ms)
	}
	return rows
}

func verdict(unit, name string, b, c float64) string {
	lowerBetter := false
	switch unit {
	case result.UnitMs, result.UnitUs, result.UnitPercent, result.UnitBytes, result.UnitBytesPerSec:
		// Byte rates are overhead (gossip traffic per node): less is better.
		lowerBetter = true
	case result.UnitPerSec, result.UnitBps, result.UnitRatio:
	default:
		return ""
	}
	if b == c || (b != 0 && math.Abs(c-b)/math.Abs(b) < 0.02) {
		return "same"
	}
	if (c < b) == lowerBetter {
		return "better"
	}
	return "worse"
}

// Print writes the comparison as an aligned table.
func Print(w io.Writer, base, cur *result.Result) error {
	rows := Rows(base, cur)
	fmt.Fprintf(w, "compared with %s run of %s (%s):\n", base.Scenario, base.Meta.Start.Format("2006-01-02 15:04:05Z"), base.Meta.Target)
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "  no metric in common")
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tbaseline\tthis run\tratio\t\t")
	for _, r := range rows {
		ratio := "n/a"
		if !math.IsNaN(r.Ratio) {
			ratio = fmt.Sprintf("%.3fx", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Name, fmtVal(r.Base, r.Unit), fmtVal(r.Current, r.Unit), ratio, r.Verdict)
	}
	return tw.Flush()
}

func fmtVal(v float64, unit string) string {
	if unit == result.UnitCount || unit == "" || unit == result.UnitRatio {
		return fmt.Sprintf("%.4g", v)
	}
	return fmt.Sprintf("%.4g %s", v, unit)
}
