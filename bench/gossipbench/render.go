package gossipbench

import (
	"fmt"
	"io"
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
