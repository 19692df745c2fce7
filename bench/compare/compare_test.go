package compare

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
	"github.com/spacecast/spacecast/bench/result"
)

func TestRowsAndPrint(t *testing.T) {
	mk := func(rps, loss float64, lat time.Duration) *result.Result {
		r := result.New("api", "t", time.Now())
		r.Add("get_rps", result.UnitPerSec, rps, "")
		r.Add("loss", result.UnitPercent, loss, "")
		h := hist.New()
		h.RecordDuration(lat)
		r.AddLatency("get", h)
		return r
	}
	base := mk(1000, 1, 2*time.Millisecond)
	cur := mk(1500, 2, time.Millisecond)
	cur.Add("only_here", result.UnitCount, 1, "")
	rows := Rows(base, cur)
	want := map[string]struct {
		ratio   float64
		verdict string
	}{
		"get_rps": {1.5, "better"},
		"loss":    {2, "worse"},
		"get_p50": {0.5, "better"},
		"get_p99": {0.5, "better"},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows = %+v", rows)
	}
	for _, r := range rows {
		w, ok := want[r.Name]
		if !ok || math.Abs(r.Ratio-w.ratio) > 0.02 || r.Verdict != w.verdict {
			t.Fatalf("row %+v, want %+v", r, w)
		}
	}
	var buf bytes.Buffer
	if err := Print(&buf, base, cur); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "1.500x") || !strings.Contains(buf.String(), "worse") {
		t.Fatalf("print:\n%s", buf.String())
	}
}
