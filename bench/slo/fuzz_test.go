package slo

import (
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{"join_p99<500ms,loss<1%", "get_rps>=5000/s", "a<=1e3us", "bitrate>1.5Mbps", "x>", "<", ",,", "a<5e", "a<1µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rules, err := Parse(s)
		if err != nil {
			return
		}
		for _, r := range rules {
			if r.Metric == "" || strings.ContainsAny(r.Metric, "<>=,") {
				t.Fatalf("Parse(%q) gave bad metric %q", s, r.Metric)
			}
			if r.Value != r.Value {
				t.Fatalf("Parse(%q) gave NaN", s)
			}
		}
	})
}
