package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spacecast/spacecast/bench/browserbench"
	"github.com/spacecast/spacecast/bench/harness"
	"github.com/spacecast/spacecast/bench/progress"
)

// runBenchBrowser is `spacecast bench browser`: a Chromium publisher
// (fake camera, 720p simulcast) and Chromium subscribers through
// livekit-client, each in a network namespace, on a clean or impaired
// downlink (a cap, random loss, delay and jitter), against servers it
// starts itself (--servers ours,livekit, each afresh before each run,
// runs interleaved), a running livekit-server beside ours
// (--livekit-url), or a running server alone (--target); the key and
// secret of a running server come from the environment. It judges the
// video as a person would (freezes, fps, resolution, time to first
// frame, recovery after a cap drop) and reads the wire between the
// server and each subscriber. Needs root.
func runBenchBrowser(ctx context.Context, e env, args []string) error {
	cfg := browserbench.DefaultBenchConfig()
	fs := newFlagSet(e, "bench browser")
	path := harness.OutputFlags(fs, &cfg.Common)
	fs.StringVar(&cfg.Target, "target", cfg.Target, "a running LiveKit-protocol server `ws://ADDR:PORT` (ADDR an address of this machine in 198.18.0.0/15) with tokens signed by "+envBenchLKKey+" / "+envBenchLKSecret+" (instead of --servers)")
	fs.StringVar(&cfg.Servers, "servers", cfg.Servers, "servers to start and compare, comma-separated: ours (this binary's edge), livekit (default ours)")
	fs.StringVar(&cfg.LiveKitBin, "livekit-bin", cfg.LiveKitBin, "livekit-server's `binary`, for --servers livekit")
	fs.StringVar(&cfg.LiveKitURL, "livekit-url", cfg.LiveKitURL, "a running livekit-server `ws://ADDR:PORT` (ADDR an address of this machine in 198.18.0.0/15) to measure as livekit instead of starting one, its key and secret in "+envBenchLKKey+" / "+envBenchLKSecret+" (--servers defaults to ours,livekit with it)")
	fs.IntVar(&cfg.Subscribers, "subscribers", cfg.Subscribers, "subscribers per run, each in a namespace of its own with the same downlink")
	fs.IntVar(&cfg.Repeat, "repeat", cfg.Repeat, "runs per server, interleaved; the figures are medians")
	fs.StringVar(&cfg.Codec, "codec", cfg.Codec, "the publisher's video codec: vp8, vp9, h264, av1")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the subscriber stays, from its connect()")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "wait between the publisher's publication and the subscriber's join")
	fs.StringVar(&cfg.Cap, "cap", cfg.Cap, "cap the subscriber's downlink for the whole run (tbf), e.g. `1.5mbit`")
	fs.StringVar(&cfg.Caps, "caps", cfg.Caps, "cap the subscriber's downlink on a `schedule` instead, e.g. 0s:off,15s:400kbit,40s:off")
	fs.StringVar(&cfg.Loss, "loss", cfg.Loss, "drop this `share` of the UDP datagrams on the subscriber's downlink at random (iptables -m statistic), e.g. 5%")
	fs.DurationVar(&cfg.Delay, "delay", cfg.Delay, "hold every UDP datagram on the subscriber's downlink this long (a relay in its namespace)")
	fs.DurationVar(&cfg.Jitter, "jitter", cfg.Jitter, "vary that delay uniformly by up to ± this much, without reordering")
	fs.StringVar(&cfg.LiveKitClientJS, "livekit-client", cfg.LiveKitClientJS, "livekit-client's UMD bundle `file`")
	fs.StringVar(&cfg.Chromium, "chromium", cfg.Chromium, "Chromium's `binary`")
	fs.StringVar(&cfg.Logs, "logs", cfg.Logs, "keep every run's browser and server logs in this `folder`")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log `level` of our edge (debug: every layer choice)")
	verbose := fs.Bool("verbose", false, "log each run's steps on stderr")
	if err := harness.Parse(fs, args, "browser", &cfg, path); err != nil {
		return benchParseError(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "spacecast bench browser: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if err := harness.CheckSLO(cfg.SLO); err != nil {
		return err
	}
	if cfg.Target != "" || cfg.LiveKitURL != "" {
		cfg.APIKey, cfg.APISecret = e.getenv(envBenchLKKey), e.getenv(envBenchLKSecret)
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	b, err := browserbench.NewBench(cfg)
	if err != nil {
		return err
	}
	p := progress.New(e.stdout, progress.IsTerminal(e.stdout), 2*time.Second)
	r, err := b.Run(ctx, p)
	p.Done()
	if err != nil {
		return err
	}
	ferr := harness.Finish(r, cfg.Common, e.stdout)
	if err := b.WriteTable(e.stdout); err != nil {
		return err
	}
	return ferr
}
