package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v4"

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
	fs.BoolVar(&cfg.Record, "record", cfg.Record, "record every room once everyone joined: what the edge writes per recorded track is measured; compare the server's CPU with a run without")
	fs.StringVar(&cfg.RecordDir, "record-dir", cfg.RecordDir, "with --record against a --target: the edge's recording `DIR` on this machine, whose growth is measured (with --dev: DATA/"+devRecording+")")
	fs.StringVar(&cfg.LiveKitURL, "livekit-url", cfg.LiveKitURL, "run directly against this LiveKit-protocol server `ws://ADDR:PORT` (livekit-server or a spacecast edge; ADDR in 198.18.0.0/15) with tokens signed by "+envBenchLKKey+" / "+envBenchLKSecret+" instead of the REST join")
	fs.IntVar(&cfg.ServerPID, "server-pid", cfg.ServerPID, "with --livekit-url or a --target on this machine's loopback: the server's `PID` for its CPU and memory (default: the process listening on the URL's port)")
	fs.StringVar(&cfg.LoopbackPorts, "loopback-ports", cfg.LoopbackPorts, "with a --target on this machine's loopback: the deployment's other `PORTS` that the agents' namespaces reach through the loopback bridge (default "+roomsbench.DefaultLoopbackPorts+": spacecast dev's edge signalling, edge ICE UDP, TURN UDP, TCP and TLS)")
	devDir := fs.String("dev", "", "bench the `spacecast dev` whose data folder is `DIR` (on this machine, as root): its API client, URL and ports come from DIR/"+devClientFile)
	fs.Func("metrics-url", "a server's Prometheus `URL` (control plane, edge), for its CPU and memory; repeatable", func(v string) error {
		cfg.MetricsURLs = append(cfg.MetricsURLs, v)
		return nil
	})
	fs.Func("regions", "a multi-region run: `NAME:EDGES:PUBLISHERS:SUBSCRIBERS,...` per room, e.g. a:1:1:0,b:1:0:2 (EDGES: started in a self-contained run; with --target, the fleet's regions, EDGES 0)", func(v string) error {
		r, err := roomsbench.ParseRegions(v)
		cfg.Regions = r
		return err
	})
	fs.DurationVar(&cfg.Link.Delay, "link-delay", cfg.Link.Delay, "with --regions: one-way delay between every two regions (a userspace relay)")
	fs.DurationVar(&cfg.Link.Jitter, "link-jitter", cfg.Link.Jitter, "with --regions: ± jitter on that delay")
	fs.Float64Var(&cfg.Link.LossPercent, "link-loss", cfg.Link.LossPercent, "with --regions: percent of the UDP datagrams between regions dropped at random, each way (iptables)")
	fs.IntVar(&cfg.Link.RateKbps, "link-rate", cfg.Link.RateKbps, "with --regions: cap in kbps on what each edge sends to another region (htb)")
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
	if *devDir != "" {
		if err := benchDev(&cfg, *devDir); err != nil {
			return err
		}
	}
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

// errDevFile means `bench rooms --dev` could not use a dev data folder.
var errDevFile = errors.New("bench rooms --dev")

// benchDev points a rooms run at the `spacecast dev` whose data folder is
// dir: the target, API client and loopback ports are read from its
// dev-client.json unless given otherwise (flags, scenario file); the
// client's secret too, unless the environment has one.
func benchDev(cfg *roomsbench.Config, dir string) error {
	path := filepath.Join(dir, devClientFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %w (start `spacecast dev --data %s` first)", errDevFile, err, dir)
	}
	var d devClientCreds
	if err := json.Unmarshal(b, &d); err != nil || d.ClientID == "" || d.ClientSecret == "" {
		return fmt.Errorf("%w: %s is not a dev client file (%v)", errDevFile, path, err)
	}
	if cfg.Target == "" {
		cfg.Target = d.APIURL
		if cfg.Target == "" { // written by a dev before it recorded its URLs
			cfg.Target = "http://127.0.0.1:8080"
		}
		// A dev on every address (--listen 0.0.0.0:8080) is on loopback too.
		if u, err := url.Parse(cfg.Target); err == nil {
			if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
				u.Host = net.JoinHostPort("127.0.0.1", u.Port())
				cfg.Target = u.String()
			}
		}
	}
	if cfg.ClientID == "" {
		cfg.ClientID = d.ClientID
	}
	if cfg.ClientSecret == "" && cfg.ClientID == d.ClientID {
		cfg.ClientSecret = d.ClientSecret
	}
	if cfg.Record && cfg.RecordDir == "" {
		cfg.RecordDir = filepath.Join(dir, devRecording)
	}
	if cfg.LoopbackPorts == "" && d.EdgeURL != "" {
		if cfg.LoopbackPorts, err = devPorts(d); err != nil {
			return fmt.Errorf("%w: %s: %w", errDevFile, path, err)
		}
	}
	return nil
}

// devPorts lists a dev's edge signalling, edge ICE UDP and TURN ports in
// the --loopback-ports form.
func devPorts(d devClientCreds) (string, error) {
	u, err := url.Parse(d.EdgeURL)
	if err != nil || u.Port() == "" {
		return "", fmt.Errorf("edge URL %q without a port", d.EdgeURL)
	}
	ports := []string{"tcp:" + u.Port()}
	if d.RTCPort > 0 {
		ports = append(ports, "udp:"+strconv.Itoa(d.RTCPort))
	}
	for _, t := range d.TURNURLs {
		u, err := stun.ParseURI(t)
		if err != nil || (u.Scheme != stun.SchemeTypeTURN && u.Scheme != stun.SchemeTypeTURNS) {
			return "", fmt.Errorf("TURN URL %q: want turn(s):HOST:PORT (%v)", t, err)
		}
		ports = append(ports, u.Proto.String()+":"+strconv.Itoa(u.Port))
	}
	return strings.Join(ports, ","), nil
}
