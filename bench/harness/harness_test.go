package harness

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/bench/scenario"
)

type fakeScenario struct{ loss float64 }

func (f fakeScenario) Run(_ context.Context, p *progress.Printer) (*result.Result, error) {
	p.Update("working")
	r := result.New("fake", "", time.Now())
	r.Add("loss", result.UnitPercent, f.loss, "")
	return r, nil
}

func TestRunOutputsAndSLO(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.json")
	tests := []struct {
		name    string
		loss    float64
		common  scenario.Common
		wantErr error
		want    []string
	}{
		{name: "baseline written", loss: 2, common: scenario.Common{Out: base, HTML: filepath.Join(dir, "r.html"), SLO: "loss<5%"}, want: []string{"all 1 objectives met", "result: "}},
		{name: "compare prints ratio", loss: 1, common: scenario.Common{Compare: base}, want: []string{"0.500x", "better"}},
		{name: "slo broken", loss: 3, common: scenario.Common{SLO: "loss<1%"}, wantErr: ErrSLOBroken},
		{name: "slo typo", loss: 3, common: scenario.Common{SLO: "los<1%"}, wantErr: result.ErrUnknownMetric},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Run(context.Background(), fakeScenario{loss: tt.loss}, tt.common, &out)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v\n%s", err, tt.wantErr, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "r.html")); err != nil {
		t.Fatal(err)
	}
}

func TestFinishFailedCheck(t *testing.T) {
	r := result.New("x", "", time.Now())
	r.AddCheck("exactly_once", false, "2 winners")
	if err := Finish(r, scenario.Common{}, io.Discard); !errors.Is(err, ErrCheckFailed) {
		t.Fatalf("err = %v", err)
	}
}

type cfg struct {
	scenario.Common `yaml:",inline"`
	N               int `yaml:"n"`
}

func TestParseFileThenFlags(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(p, []byte("scenario: x\nn: 7\nslo: a<1ms\ntarget: http://file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := cfg{N: 1}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	path := Flags(fs, &c.Common)
	fs.IntVar(&c.N, "n", c.N, "")
	if err := Parse(fs, []string{"--scenario", p, "--target", "http://flag"}, "x", &c, path); err != nil {
		t.Fatal(err)
	}
	if c.N != 7 || c.SLO != "a<1ms" || c.Target != "http://flag" {
		t.Fatalf("cfg = %+v", c)
	}
}

func TestJSONIsOut(t *testing.T) {
	var c scenario.Common
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	path := OutputFlags(fs, &c)
	if err := Parse(fs, []string{"--json", "r.json", "--html", "r.html"}, "x", &cfg{Common: c}, path); err != nil {
		t.Fatal(err)
	}
	if c.Out != "r.json" || c.HTML != "r.html" {
		t.Fatalf("common = %+v", c)
	}
}
