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
// afresh before each of its runs, except livekit when LiveKitURL names a
// running livekit-server.
type BenchConfig struct {
	scenario.Common `yaml:",inline"`
	// Servers to start and compare, comma-separated: ours, livekit
	// (default ours; not with Target).
	Servers string `yaml:"servers" json:"servers,omitempty"`
	// LiveKitBin is livekit-server's binary.
	LiveKitBin string `yaml:"livekitBin" json:"livekitBin,omitempty"`
	// LiveKitURL is a running livekit-server (ws://ADDR:PORT on this
	// machine in 198.18.0.0/15, its key and secret from the environment)
	// to measure as "livekit" instead of starting LiveKitBin; Servers
	// defaults to ours,livekit with it.
	LiveKitURL string `yaml:"livekitURL" json:"livekitURL,omitempty"`
	// Repeat runs every server this many times, interleaved (ours,
	// livekit, ours, livekit...); the figures are medians.
	Repeat int    `yaml:"repeat" json:"repeat"`
	Codec  string `yaml:"codec" json:"codec"`
	// Duration and Settle: see Config.
	Duration time.Duration `yaml:"duration" json:"duration"`
	Settle   time.Duration `yaml:"settle" json:"settle"`
	// Subscribers is how many subscribers join, each in a namespace of
	// its own with the same link (default 1).
	Subscribers int `yaml:"subscribers" json:"subscribers"`
	// LinkSpec is every subscriber's downlink: a cap, loss, delay and
	// jitter.
	LinkSpec `yaml:",inline"`
	// Links, instead of Subscribers and the keys above, gives each
	// subscriber a link of its own (one entry per subscriber).
	Links []LinkSpec `yaml:"links" json:"links,omitempty"`
	// LiveKitClientJS is livekit-client's UMD bundle; Chromium the browser.
	LiveKitClientJS string `yaml:"livekitClient" json:"livekitClient"`
	Chromium        string `yaml:"chromium" json:"chromium"`
	// Logs, when set, is a folder that keeps every run's browser and
	// server logs (<server>-<n>/).
	Logs string `yaml:"logs" json:"logs,omitempty"`
	// LogLevel is the log level of the edge that runs "ours" (debug shows
	// every layer choice; default info).
	LogLevel string `yaml:"logLevel" json:"logLevel,omitempty"`

	// APIKey and APISecret sign tokens for Target (from the environment).
	APIKey    string `yaml:"-" json:"-"`
	APISecret string `yaml:"-" json:"-"`
	// Exe is the spacecast binary that runs "ours".
	Exe string `yaml:"-" json:"-"`
	// Logger receives the runs' progress details (nil: none).
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// LinkSpec is a subscriber's downlink as the flags and the scenario
// file write it.
type LinkSpec struct {
	// Cap caps the downlink for the whole run ("1.5mbit"); Caps is a
	// schedule instead ("0s:off,15s:400kbit,40s:off").
	Cap  string `yaml:"cap" json:"cap,omitempty"`
	Caps string `yaml:"caps" json:"caps,omitempty"`
	// Loss drops a share of the UDP datagrams at random ("5%").
	Loss string `yaml:"loss" json:"loss,omitempty"`
	// Delay holds every UDP datagram, Jitter varies that by up to ± it.
	Delay  time.Duration `yaml:"delay" json:"delay,omitempty"`
	Jitter time.Duration `yaml:"jitter" json:"jitter,omitempty"`
}

// Link reads the spec.
func (l LinkSpec) Link() (Link, error) {
	var out Link
	var errs []error
	switch {
	case l.Cap != "" && l.Caps != "":
		errs = append(errs, fmt.Errorf("%w: --cap and --caps (cap, caps): give one", ErrInvalid))
	case l.Cap != "":
		r, err := ParseRate(l.Cap)
		if err != nil {
			errs = append(errs, fmt.Errorf("cap: %w", err))
		}
		out.Shaping = Fixed(r)
	default:
		sched, err := ParseSchedule(l.Caps)
		if err != nil {
			errs = append(errs, err)
		}
		out.Shaping = sched
	}
	loss, err := ParseLoss(l.Loss)
	if err != nil {
		errs = append(errs, err)
	}
	out.Loss, out.Delay, out.Jitter = loss, l.Delay, l.Jitter
	return out, errors.Join(errs...)
}

// DefaultBenchConfig is `spacecast bench browser` without flags.
func DefaultBenchConfig() BenchConfig {
	return BenchConfig{
		Common:          scenario.Common{Scenario: "browser"},
		LiveKitBin:      "livekit-server",
		Repeat:          1,
		Subscribers:     1,
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
		if c.Servers != "" || c.LiveKitURL != "" {
			return nil, fmt.Errorf("%w: --target and --servers or --livekit-url: give one (a running server, or servers to compare)", ErrInvalid)
		}
		return []string{serverTarget}, nil
	}
	s := c.Servers
	switch {
	case s == "" && c.LiveKitURL != "":
		s = ServerOurs + "," + ServerLiveKit
	case s == "":
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
	if c.LiveKitURL != "" && !slices.Contains(out, ServerLiveKit) {
		return nil, fmt.Errorf("%w: --livekit-url without livekit in --servers", ErrInvalid)
	}
	return out, nil
}

// links is every subscriber's link.
func (c BenchConfig) links() ([]Link, error) {
	if len(c.Links) > 0 {
		if c.LinkSpec != (LinkSpec{}) || c.Subscribers > 1 {
			return nil, fmt.Errorf("%w: links gives each subscriber its link: not with subscribers, cap, caps, loss, delay or jitter", ErrInvalid)
		}
		var out []Link
		var errs []error
		for i, ls := range c.Links {
			l, err := ls.Link()
			if err != nil {
				errs = append(errs, fmt.Errorf("links[%d]: %w", i, err))
			}
			out = append(out, l)
		}
		return out, errors.Join(errs...)
	}
	if c.Subscribers < 1 || c.Subscribers > maxSubscribers {
		return nil, fmt.Errorf("%w: subscribers %d: want 1 to %d", ErrInvalid, c.Subscribers, maxSubscribers)
	}
	l, err := c.LinkSpec.Link()
	if err != nil {
		return nil, err
	}
	out := make([]Link, c.Subscribers)
	for i := range out {
		out[i] = l
	}
	return out, nil
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
	links, err := c.links()
	if err != nil {
		errs = append(errs, err)
	}
	if slices.Contains(servers, ServerLiveKit) && c.LiveKitBin == "" && c.LiveKitURL == "" {
		errs = append(errs, fmt.Errorf("%w: livekit needs --livekit-bin (or --livekit-url)", ErrInvalid))
	}
	run := c.runConfig(links)
	if c.LiveKitURL != "" {
		t := Target{URL: c.LiveKitURL, APIKey: c.APIKey, APISecret: c.APISecret}
		if c.APIKey == "" || c.APISecret == "" {
			errs = append(errs, fmt.Errorf("%w: --livekit-url needs the server's API key and secret in SPACECAST_BENCH_LK_KEY and SPACECAST_BENCH_LK_SECRET", ErrInvalid))
			t.APIKey, t.APISecret = "k", "s" // reported above
		}
		if err := t.validate(); err != nil {
			errs = append(errs, fmt.Errorf("--livekit-url: %w", err))
		}
	}
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
func (c BenchConfig) runConfig(links []Link) Config {
	return Config{
		Codec: c.Codec, Duration: c.Duration, Settle: c.Settle, Subscribers: links,
		LiveKitClientJS: c.LiveKitClientJS, Chromium: c.Chromium, Logger: c.Logger,
	}
}

// Bench runs the browser scenario against every server, Repeat times
// interleaved (a harness.Scenario).
type Bench struct {
	cfg     BenchConfig
	servers []string
	links   []Link
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
	links, _ := cfg.links()
	if cfg.Exe == "" && slices.Contains(servers, ServerOurs) {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("browserbench: %w", err)
		}
		cfg.Exe = exe
	}
	return &Bench{cfg: cfg, servers: servers, links: links}, nil
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
	p.Printf("browser bench: %s, %s simulcast publisher and %d subscriber(s) asking for high quality in Chromium, %s each (after %s of settling), downlink %s, %d run(s) each",
		target, c.Codec, len(b.links), c.Duration, c.Settle, b.linksString(), c.Repeat)
	b.runs = nil
	for i := range c.Repeat {
		for _, s := range b.servers {
			run := benchRun{server: s, n: i + 1}
			cfg := c.runConfig(b.links)
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
				cfg.Start = StartOurs(c.Exe, dir, c.LogLevel)
			case ServerLiveKit:
				if c.LiveKitURL != "" {
					cfg.Target = Target{URL: c.LiveKitURL, APIKey: c.APIKey, APISecret: c.APISecret}
				} else {
					cfg.Start = StartLiveKit(c.LiveKitBin, dir)
				}
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

// linksString sums up the subscribers' links.
func (b *Bench) linksString() string {
	same := true
	for _, l := range b.links[1:] {
		same = same && l.String() == b.links[0].String()
	}
	if same {
		return b.links[0].String()
	}
	parts := make([]string, len(b.links))
	for i, l := range b.links {
		parts[i] = fmt.Sprintf("s%d %s", i+1, l)
	}
	return strings.Join(parts, "; ")
}

// oneLine is a run's gist for the progress display: one clause per
// subscriber.
func oneLine(res Result) string {
	var parts []string
	for _, s := range res.Subscribers {
		parts = append(parts, s.Name+": "+subscriberLine(s))
	}
	return strings.Join(parts, "; ") + "; publisher limited by " + res.Publisher.Reason
}

// subscriberLine is one subscriber's gist.
func subscriberLine(s SubscriberResult) string {
	v := s.Video
	if !s.Decoded {
		return "NO FRAME DECODED"
	}
	return fmt.Sprintf("ttff %.0f ms, %.0f freezes (%.1f s), fps p10 %.0f p50 %.0f, %s, %.0f kbit/s, lost %.0f, NACK %.0f, PLI %.0f, audio concealed %.1f%%; wire: %d holes (%d never filled), %d RTX, %d resent on the media SSRC",
		s.TTFFMs, v.Freezes, v.FreezeSeconds, v.FPSp10, v.FPSp50, v.TimeAtHeightString(), v.Kbps, v.PacketsLost, v.NACKs, v.PLIs, 100*s.Audio.Concealed,
		s.Wire.Holes, s.Wire.Unfilled, s.Wire.RTXPackets, s.Wire.MediaResent)
}
