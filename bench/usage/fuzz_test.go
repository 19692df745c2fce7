package usage

import (
	"math"
	"strings"
	"testing"
)

// FuzzParseProcessMetrics: a remote metrics endpoint is untrusted input.
func FuzzParseProcessMetrics(f *testing.F) {
	for _, s := range []string{
		"process_cpu_seconds_total 12.5\nprocess_resident_memory_bytes 1e6\n",
		"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total{a=\"b\"} 3\n",
		"process_cpu_seconds_total NaN\n",
		"{{{",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpu, rss, err := ParseProcessMetrics(strings.NewReader(s))
		if err != nil && (cpu != 0 || rss != 0) {
			t.Fatalf("error %v with values %v %v", err, cpu, rss)
		}
		_ = math.IsNaN(cpu)
	})
}
