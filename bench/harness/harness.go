package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/spacecast/spacecast/bench/compare"
	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/report"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/bench/scenario"
	"github.com/spacecast/spacecast/bench/slo"
)

// Errors that make the command exit non-zero after a complete run.
var (
	ErrSLOBroken   = errors.New("harness: SLO broken")
	ErrCheckFailed = errors.New("harness: correctness check failed")
	// ErrFlags marks a command line the flag set refused (it has already
	// printed why).
	ErrFlags = errors.New("harness: bad flags")
)

// Scenario is one bench scenario: it runs its load and measures, showing
// progress on p, and returns the result (Meta.Start set, DurationSec too).
type Scenario interface {
	Run(ctx context.Context, p *progress.Printer) (*result.Result, error)
}

// Flags binds the common flags of every scenario to c (a config's embedded
// scenario.Common) and returns where --scenario is stored.
func Flags(fs *flag.FlagSet, c *scenario.Common) *string {
	fs.StringVar(&c.Target, "target", c.Target, "control plane base `URL` (empty: self-contained, start what is needed here)")
	fs.StringVar(&c.ClientID, "client-id", c.ClientID, "API client id (the secret is read from SPACECAST_BENCH_CLIENT_SECRET)")
	return OutputFlags(fs, c)
}

// OutputFlags binds only --scenario, --out (alias --json), --html, --compare and --slo,
// for scenarios whose target is not a control plane URL (they define
// --target themselves).
func OutputFlags(fs *flag.FlagSet, c *scenario.Common) *string {
	path := new(string)
	fs.StringVar(path, "scenario", "", "scenario `file` (YAML) with this run's settings; flags given too override it")
	fs.StringVar(&c.Out, "out", c.Out, "write the JSON result to `file`")
	fs.StringVar(&c.Out, "json", c.Out, "the same as --out `file`")
	fs.StringVar(&c.HTML, "html", c.HTML, "write the HTML report to `file`")
	fs.StringVar(&c.Compare, "compare", c.Compare, "print ratios against an earlier result `file`")
	fs.StringVar(&c.SLO, "slo", c.SLO, "objectives, e.g. 'join_p99<500ms,loss<1%': exit non-zero when one is broken")
	return path
}

// Parse parses args into dst through fs (whose flags are bound to dst's
// fields). When --scenario names a file, the file is loaded first and the
// flags given on the command line override it.
func Parse(fs *flag.FlagSet, args []string, name string, dst scenario.File, path *string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", ErrFlags, err)
	}
	if *path == "" {
		return nil
	}
	if err := scenario.Load(*path, name, dst); err != nil {
		return err
	}
	// Parse again: explicit flags win over the file.
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", ErrFlags, err)
	}
	return nil
}

// CheckSLO parses an SLO string early, so a typo fails before a long run.
func CheckSLO(s string) error {
	_, err := slo.Parse(s)
	return err
}

// Run runs sc with a progress display on stdout and finishes with Finish.
func Run(ctx context.Context, sc Scenario, c scenario.Common, stdout io.Writer) error {
	if err := CheckSLO(c.SLO); err != nil {
		return err
	}
	p := progress.New(stdout, progress.IsTerminal(stdout), 2*time.Second)
	r, err := sc.Run(ctx, p)
	p.Done()
	if err != nil {
		return err
	}
	return Finish(r, c, stdout)
}

// Finish writes the outputs c asks for, prints the summary (and the
// comparison), and returns ErrCheckFailed or ErrSLOBroken when the run
// must fail.
func Finish(r *result.Result, c scenario.Common, stdout io.Writer) error {
	rules, err := slo.Parse(c.SLO)
	if err != nil {
		return err
	}
	var outcomes []slo.Outcome
	var sloErr error
	if len(rules) > 0 {
		outcomes, sloErr = slo.Check(r, rules)
	}
	for _, o := range outcomes {
		r.AddCheck("slo "+o.Rule.Text, o.OK, fmt.Sprintf("measured %.4g", o.Value))
	}
	if err := report.Text(stdout, r); err != nil {
		return err
	}
	if c.Out != "" {
		if err := r.Write(c.Out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "result: %s\n", c.Out)
	}
	if c.HTML != "" {
		if err := report.WriteHTML(c.HTML, r); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "report: %s\n", c.HTML)
	}
	if c.Compare != "" {
		base, err := result.Read(c.Compare)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		if err := compare.Print(stdout, base, r); err != nil {
			return err
		}
	}
	if sloErr != nil {
		return sloErr
	}
	var broken []string
	for _, o := range outcomes {
		if !o.OK {
			broken = append(broken, o.String())
		}
	}
	var failed []string
	for _, ch := range r.FailedChecks() {
		if len(ch.Name) < 4 || ch.Name[:4] != "slo " {
			failed = append(failed, ch.Name+": "+ch.Detail)
		}
	}
	switch {
	case len(failed) > 0:
		return fmt.Errorf("%w: %v", ErrCheckFailed, failed)
	case len(broken) > 0:
		return fmt.Errorf("%w: %v", ErrSLOBroken, broken)
	}
	if len(outcomes) > 0 {
		fmt.Fprintf(stdout, "all %d objectives met\n", len(outcomes))
	}
	return nil
}
