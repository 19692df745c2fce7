package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spacecast/spacecast/bench/harness"
	"github.com/spacecast/spacecast/bench/participant"
	"github.com/spacecast/spacecast/bench/roomsbench"
)

// runBenchRooms is `spacecast bench rooms`: simulated participants joining
// through the REST API and publishing/subscribing through the edges. With
// --agent it is one agent process of such a run (a plan as JSON on stdin,
// events as JSON lines on stdout).
func runBenchRooms(ctx context.Context, e env, args []string) error {
	cfg := roomsbench.DefaultConfig()
	fs := newFlagSet(e, "bench rooms")
	path := harness.Flags(fs, &cfg.Common)
	fs.IntVar(&cfg.Rooms, "rooms", cfg.Rooms, "number of rooms")
	fs.IntVar(&cfg.Participants, "participants", cfg.Participants, "participants per room")
	fs.IntVar(&cfg.Publishers, "publishers", cfg.Publishers, "publishers per room (camera + microphone)")
	fs.IntVar(&cfg.Agents, "agents", cfg.Agents, "agent processes the participants spread over")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long participants stay")
	fs.DurationVar(&cfg.Spread, "spread", cfg.Spread, "time between two joins")
	fs.BoolVar(&cfg.Storm, "storm", cfg.Storm, "join storm: everyone joins within --storm-window")
	fs.DurationVar(&cfg.StormWindow, "storm-window", cfg.StormWindow, "join storm window")
	fs.BoolVar(&cfg.Simulcast, "simulcast", cfg.Simulcast, "publish three VP8 simulcast layers")
	fs.Func("cut", "fault injection `agent:at:for`: take agent N (0-based) off the network at AT for FOR, e.g. 1:2s:1500ms", func(v string) error {
		f := strings.Split(v, ":")
		if len(f) != 3 {
			return fmt.Errorf("want agent:at:for, got %q", v)
		}
		var c roomsbench.Cut
		var err error
		if c.Agent, err = strconv.Atoi(f[0]); err != nil {
			return fmt.Errorf("cut agent: %w", err)
		}
		if c.At, err = time.ParseDuration(f[1]); err != nil {
			return fmt.Errorf("cut at: %w", err)
		}
		if c.For, err = time.ParseDuration(f[2]); err != nil {
			return fmt.Errorf("cut for: %w", err)
		}
		cfg.Cut = &c
		return nil
	})
	fs.IntVar(&cfg.VideoKbps, "video-kbps", cfg.VideoKbps, "single-layer camera bitrate in kbps (with --simulcast=false)")
	fs.StringVar(&cfg.LiveKitURL, "livekit-url", cfg.LiveKitURL, "run directly against this LiveKit-protocol server `ws://ADDR:PORT` (livekit-server or a spacecast edge; ADDR in 198.18.0.0/15) with tokens signed by "+envBenchLKKey+" / "+envBenchLKSecret+" instead of the REST join")
	fs.IntVar(&cfg.ServerPID, "server-pid", cfg.ServerPID, "with --livekit-url: the server's `PID` for its CPU and memory (default: the process listening on the URL's port)")
	fs.Func("metrics-url", "a server's Prometheus `URL` (control plane, edge), for its CPU and memory; repeatable", func(v string) error {
		cfg.MetricsURLs = append(cfg.MetricsURLs, v)
		return nil
	})
	verbose := fs.Bool("verbose", false, "show the agents' and servers' logs on stderr")
	agent := fs.Bool("agent", false, "internal: run as an agent of a rooms run (plan on stdin, events on stdout)")
	if err := harness.Parse(fs, args, "rooms", &cfg, path); err != nil {
		return benchParseError(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "spacecast bench rooms: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *agent {
		return runRoomsAgent(ctx, e.stdin, e.stdout)
	}
	if err := harness.CheckSLO(cfg.SLO); err != nil {
		return err
	}
	cfg.ClientSecret = e.getenv(envBenchSecret)
	cfg.APIKey, cfg.APISecret = e.getenv(envBenchLKKey), e.getenv(envBenchLKSecret)
	var log *slog.Logger
	if *verbose {
		cfg.AgentStderr = e.stderr
		log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := roomsbench.New(cfg, log)
	if err != nil {
		return err
	}
	return harness.Run(ctx, b, cfg.Common, e.stdout)
}

// The API key and secret that sign the tokens of `bench rooms --livekit-url`.
const (
	envBenchLKKey    = "SPACECAST_BENCH_LK_KEY"
	envBenchLKSecret = "SPACECAST_BENCH_LK_SECRET"
)

// runRoomsAgent runs the participants of the plan read from in.
func runRoomsAgent(ctx context.Context, in io.Reader, out io.Writer) error {
	var plan participant.Plan
	if err := json.NewDecoder(in).Decode(&plan); err != nil {
		return fmt.Errorf("agent: read plan: %w", err)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(ev participant.Event) {
		if ev.T == 0 {
			ev.T = time.Now().UnixNano()
		}
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(ev)
	}
	return participant.Run(ctx, plan, emit)
}
