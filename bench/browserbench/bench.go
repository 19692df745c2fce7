package browserbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/bench/scenario"
)

// Servers a bench can start itself.
const (
	ServerOurs    = "ours"
	ServerLiveKit = "livekit"
	// serverTarget labels a running server given by URL.
	serverTarget = "target"
)

// BenchConfig is `spacecast bench browser` and its scenario file.
// Common.Target, when set, is a running server's ws:// URL (its key and
// secret from the environment); otherwise Servers are started here, each
// afresh before each of its runs.
type BenchConfig struct {
	scenario.Common `yaml:",inline"`
	// Servers to start and compare, comma-separated: ours, livekit
	// (default ours; not with Target).
	Servers string `yaml:"servers" json:"servers,omitempty"`
	// LiveKitBin is livekit-server's binary.
	LiveKitBin string `yaml:"livekitBin" json:"livekitBin,omitempty"`
	// Repeat runs every server this many times, interleaved (ours,
	// livekit, ours, livekit...); the figures are medians.
	Repeat int    `yaml:"repeat" json:"repeat"`
	Codec  string `yaml:"codec" json:"codec"`
	// Duration and Settle: see Config.
	Duration time.Duration `yaml:"duration" json:"duration"`
	Settle   time.Duration `yaml:"settle" json:"settle"`
	// Cap caps the subscriber's downlink for the whole run ("1.5mbit");
	// Caps is a schedule instead ("0s:off,15s:400kbit,40s:off").
	Cap  string `yaml:"cap" json:"cap,omitempty"`
	Caps string `yaml:"caps" json:"caps,omitempty"`
	// LiveKitClientJS is livekit-client's UMD bundle; Chromium the browser.
	LiveKitClientJS string `yaml:"livekitClient" json:"livekitClient"`
	Chromium        string `yaml:"chromium" json:"chromium"`
	// Logs, when set, is a folder that keeps every run's browser and
	// server logs (<server>-<n>/).
	Logs string `yaml:"logs" json:"logs,omitempty"`

	// APIKey and APISecret sign tokens for Target (from the environment).
	APIKey    string `yaml:"-" json:"-"`
	APISecret string `yaml:"-" json:"-"`
	// Exe is the spacecast binary that runs "ours".
	Exe string `yaml:"-" json:"-"`
	// Logger receives the runs' progress details (nil: none).
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// DefaultBenchConfig is `spacecast bench browser` without flags.
func DefaultBenchConfig() BenchConfig {
	return BenchConfig{
		Common:          scenario.Common{Scenario: "browser"},
		LiveKitBin:      "livekit-server",
		Repeat:          1,
		Codec:           "vp8",
		Duration:        40 * time.Second,
		Settle:          3 * time.Second,
		LiveKitClientJS: DefaultLiveKitClientJS,
		Chromium:        "chromium",
	}
}

// servers is the labels of what the bench measures.
func (c BenchConfig) servers() ([]string, error) {
	if c.Target != "" {
		if c.Servers != "" {
			return nil, fmt.Errorf("%w: --target and --servers: give one (a running server, or servers to start)", ErrInvalid)
		}
		return []string{serverTarget}, nil
	}
	s := c.Servers
	if s == "" {
		s = ServerOurs
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f != ServerOurs && f != ServerLiveKit {
			return nil, fmt.Errorf("%w: server %q: want ours or livekit, comma-separated", ErrInvalid, f)
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("%w: server %q given twice", ErrInvalid, f)
		}
		out = append(out, f)
	}
	return out, nil
}

// schedule is the shaping the flags ask for.
func (c BenchConfig) schedule() (Schedule, error) {
	switch {
	case c.Cap != "" && c.Caps != "":
		return nil, fmt.Errorf("%w: --cap and --caps: give one", ErrInvalid)
	case c.Cap != "":
		r, err := ParseRate(c.Cap)
		if err != nil {
			return nil, fmt.Errorf("cap: %w", err)
		}
		return Fixed(r), nil
	}
	return ParseSchedule(c.Caps)
}

// Validate checks the settings.
func (c BenchConfig) Validate() error {
	var errs []error
	servers, err := c.servers()
	if err != nil {
		errs = append(errs, err)
	}
	if c.Repeat < 1 || c.Repeat > 50 {
		errs = append(errs, fmt.Errorf("%w: repeat %d: want 1 to 50", ErrInvalid, c.Repeat))
	}
	sched, err := c.schedule()
	if err != nil {
		errs = append(errs, err)
	}
	if slices.Contains(servers, ServerLiveKit) && c.LiveKitBin == "" {
		errs = append(errs, fmt.Errorf("%w: livekit needs --livekit-bin", ErrInvalid))
	}
	run := c.runConfig(sched)
	if c.Target != "" {
		run.Target = Target{URL: c.Target, APIKey: c.APIKey, APISecret: c.APISecret}
		if c.APIKey == "" || c.APISecret == "" {
			errs = append(errs, fmt.Errorf("%w: --target needs the server's API key and secret in SPACECAST_BENCH_LK_KEY and SPACECAST_BENCH_LK_SECRET", ErrInvalid))
			run.Target.APIKey, run.Target.APISecret = "k", "s" // reported above
		}
	} else {
		run.Start = func(context.Context, Bridge) (*Server, error) { return nil, nil }
	}
	if err := run.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("browserbench: %w", err)
	}
	return nil
}

// runConfig is one run's Config without its server.
func (c BenchConfig) runConfig(sched Schedule) Config {
	return Config{
		Codec: c.Codec, Duration: c.Duration, Settle: c.Settle, Shaping: sched,
		LiveKitClientJS: c.LiveKitClientJS, Chromium: c.Chromium, Logger: c.Logger,
	}
}

// Bench runs the browser scenario against every server, Repeat times
// interleaved (a harness.Scenario).
type Bench struct {
	cfg     BenchConfig
	servers []string
	sched   Schedule
	runs    []benchRun
}

// benchRun is one run of one server.
type benchRun struct {
	server string
	n      int // from 1
	res    Result
}

func (r benchRun) label() string { return fmt.Sprintf("%s #%d", r.server, r.n) }

// NewBench validates cfg.
func NewBench(cfg BenchConfig) (*Bench, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	servers, _ := cfg.servers()
	sched, _ := cfg.schedule()
	if cfg.Exe == "" && slices.Contains(servers, ServerOurs) {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("browserbench: %w", err)
		}
		cfg.Exe = exe
	}
	return &Bench{cfg: cfg, servers: servers, sched: sched}, nil
}

// Run measures every server Repeat times, interleaved, and returns the
// result.
func (b *Bench) Run(ctx context.Context, p *progress.Printer) (*result.Result, error) {
	c := b.cfg
	start := time.Now()
	target := c.Target
	if target == "" {
		target = strings.Join(b.servers, ",")
	}
	r := result.New("browser", target, start)
	r.Meta.SelfContained = c.Target == ""
	r.Config = c
	p.Printf("browser bench: %s, %s simulcast publisher and a subscriber asking for high quality in Chromium, %s each (after %s of settling), downlink %s, %d run(s) each",
		target, c.Codec, c.Duration, c.Settle, b.sched, c.Repeat)
	b.runs = nil
	for i := range c.Repeat {
		for _, s := range b.servers {
			run := benchRun{server: s, n: i + 1}
			cfg := c.runConfig(b.sched)
			var dir string
			if c.Logs != "" {
				dir = filepath.Join(c.Logs, fmt.Sprintf("%s-%d", s, i+1))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return nil, fmt.Errorf("browserbench: logs: %w", err)
				}
				cfg.LogDir = dir
			}
			switch s {
			case ServerOurs:
				cfg.Start = StartOurs(c.Exe, dir)
			case ServerLiveKit:
				cfg.Start = StartLiveKit(c.LiveKitBin, dir)
			default:
				cfg.Target = Target{URL: c.Target, APIKey: c.APIKey, APISecret: c.APISecret}
			}
			p.Printf("%s: starting (%s)", run.label(), time.Since(start).Round(time.Second))
			res, err := Run(ctx, cfg)
			if err != nil {
				return nil, fmt.Errorf("browserbench: %s: %w", run.label(), err)
			}
			run.res = res
			b.runs = append(b.runs, run)
			p.Printf("%s: %s", run.label(), oneLine(res))
		}
	}
	b.fill(r)
	r.Meta.DurationSec = time.Since(start).Seconds()
	return r, nil
}

// oneLine is a run's gist for the progress display.
func oneLine(res Result) string {
	v := res.Video
	if !res.Decoded {
		return "NO FRAME DECODED"
	}
	return fmt.Sprintf("ttff %.0f ms, %.0f freezes (%.1f s), fps p10 %.0f p50 %.0f, %s, %.0f kbit/s, lost %.0f, NACK %.0f, PLI %.0f; wire: %d holes (%d never filled), %d RTX, %d resent on the media SSRC; publisher limited by %s",
		res.TTFFMs, v.Freezes, v.FreezeSeconds, v.FPSp10, v.FPSp50, v.TimeAtHeightString(), v.Kbps, v.PacketsLost, v.NACKs, v.PLIs,
		res.Wire.Holes, res.Wire.Unfilled, res.Wire.RTXPackets, res.Wire.MediaResent, res.Publisher.Reason)
}
