package roomsbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spacecast/spacecast/bench/participant"
	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/bench/usage"
	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/procattr"
)

// Bench is one run of the rooms scenario.
type Bench struct {
	cfg Config
	log *slog.Logger
}

// New validates cfg. log may be nil.
func New(cfg Config, log *slog.Logger) (*Bench, error) {
	cfg.applyRegions()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cfg.Exe = exe
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bench{cfg: cfg, log: log}, nil
}

// agent is one agent process.
type agent struct {
	idx    int
	cmd    *exec.Cmd
	host   *netns.Host
	stderr tail
	done   chan error
}

// Run makes the rooms and links, runs the agents and measures.
func (b *Bench) Run(ctx context.Context, p *progress.Printer) (*result.Result, error) {
	c := b.cfg
	start := time.Now()
	base, clientID, secret := c.Target, c.ClientID, c.ClientSecret
	var (
		loc   *local
		bt    *bridgedTarget // a target on this machine's loopback
		hosts []*netns.Host  // the agents' namespaces, if any
		pid   int            // the server process of a direct or bridged run
	)
	var fleet *regionFleet // a self-contained multi-region run's
	lbAddr, bridged, _ := loopbackTarget(c.Target)
	switch {
	case c.multiRegion() && c.Target == "":
		if err := netns.Available(); err != nil {
			return nil, fmt.Errorf("roomsbench: a self-contained multi-region run puts its servers and participants in network namespaces: %w", err)
		}
		p.Printf("self-contained, %d regions: starting a control plane and %d edges, each in a network namespace, links between regions shaped", len(c.Regions), c.edgeCount())
		var err error
		if fleet, err = startRegionFleet(ctx, c, b.log); err != nil {
			return nil, err
		}
		defer fleet.close()
		base, clientID, secret = fleet.api, fleet.client.ID, fleet.client.Secret
		hosts = fleet.agents
		c.MetricsURLs = append(c.MetricsURLs, fleet.metricsURLs()...)
		c.SelfContained = true
	case bridged:
		var err error
		if bt, err = startBridged(ctx, c, lbAddr, b.log); err != nil {
			return nil, err
		}
		defer bt.close()
		hosts, pid = bt.hosts, bt.pid
		p.Printf("%s is on this machine's loopback: participants in network namespaces, bridged to %s ports %s; server pid %d", c.Target, lbAddr.Addr(), bt.ports, pid)
		c.SelfContained = false
	case c.LiveKitURL != "":
		addr, err := serverAddr(c.LiveKitURL)
		if err != nil {
			return nil, fmt.Errorf("roomsbench: %w", err)
		}
		if err := netns.Available(); err != nil {
			return nil, fmt.Errorf("roomsbench: a run against --livekit-url puts its participants in network namespaces (the LiveKit SDK skips loopback): %w", err)
		}
		if err := dialable(ctx, addr); err != nil {
			return nil, err
		}
		if pid = c.ServerPID; pid == 0 {
			if pid, err = listenerPID(addr.Port()); err != nil {
				return nil, err
			}
		}
		p.Printf("direct: %s (pid %d), participants on a throwaway bridge network", c.LiveKitURL, pid)
		n, hs, err := startAgentNetwork(ctx, c.Agents)
		if err != nil {
			return nil, err
		}
		defer n.Close()
		hosts, base = hs, c.LiveKitURL
		c.SelfContained = false
	case c.Target == "":
		if err := netns.Available(); err != nil {
			return nil, fmt.Errorf("roomsbench: a self-contained run puts its participants in network namespaces (the LiveKit SDK skips loopback): %w", err)
		}
		p.Printf("self-contained: starting a control plane and an edge on a throwaway bridge network")
		var err error
		if loc, err = startLocal(ctx, c.Agents, c.Record, b.log); err != nil {
			return nil, err
		}
		defer loc.close()
		base, clientID, secret = loc.info.URL, loc.info.ClientID, loc.info.ClientSecret
		hosts = loc.hosts
		c.SelfContained = true
	}
	r := result.New("rooms", base, start)
	r.Meta.SelfContained = c.SelfContained
	r.Config = c

	spread := c.spread()
	var all []participant.Seat
	var made *benchRooms
	var err error
	if c.LiveKitURL != "" {
		p.Printf("minting %d tokens for %d rooms", c.total(), c.Rooms)
		ttl := time.Duration(c.total())*spread + c.Duration + 10*time.Minute
		all, err = directSeats(c, strconv.FormatInt(start.Unix(), 36), ttl)
	} else {
		p.Printf("creating %d rooms with %d single-use links each through %s", c.Rooms, c.Participants, base)
		all, made, err = seats(ctx, c, base, clientID, secret)
	}
	if err != nil {
		return nil, err
	}

	// Seat i joins at first + i*spread; agent a gets seats a, a+A, a+2A...
	first := time.Now().Add(1500 * time.Millisecond) // time for the agents to start
	lastJoin := first.Add(time.Duration(len(all)-1) * spread)
	until := lastJoin.Add(c.Duration)
	col := newCollector(first)
	var meter *serverMeter
	if pid != 0 {
		if meter, err = newServerMeter(pid, lastJoin, until); err != nil {
			return nil, err
		}
	}
	agents := make([]*agent, c.Agents)
	for a := range agents {
		plan := participant.Plan{ControlPlane: base, Simulcast: c.Simulcast, VideoKbps: c.VideoKbps, Start: first.Add(time.Duration(a) * spread), Spread: spread * time.Duration(c.Agents), Until: until}
		if c.multiRegion() {
			// Agent a is region a's; every seat keeps its place in the
			// join order (each room's publishers first).
			for i, s := range all {
				if s.Region == c.Regions[a].Name {
					s.JoinAt = first.Add(time.Duration(i) * spread)
					plan.Seats = append(plan.Seats, s)
				}
			}
		} else {
			for i := a; i < len(all); i += c.Agents {
				plan.Seats = append(plan.Seats, all[i])
			}
		}
		ag := &agent{idx: a, done: make(chan error, 1)}
		if hosts != nil {
			ag.host = hosts[a]
			ag.cmd = ag.host.Command(ctx, c.Exe, "bench", "rooms", "--agent")
		} else {
			ag.cmd = exec.CommandContext(ctx, c.Exe, "bench", "rooms", "--agent")
		}
		if err := b.startAgent(ag, plan, col); err != nil {
			stopAgents(agents[:a])
			return nil, err
		}
		agents[a] = ag
	}
	defer stopAgents(agents)

	sources := []usage.Source{usage.Self()}
	if bt != nil {
		// The bridge relays every packet in this process: its CPU is the
		// generator's.
		sources = []usage.Source{usage.GeneratorProc("bench process (with the loopback bridge)", os.Getpid())}
	}
	if loc != nil {
		sources = []usage.Source{usage.SelfServer("control plane + edge (bench process)")}
	}
	if pid != 0 {
		sources = append(sources, usage.Proc(procLabel(pid), pid))
	}
	for i, u := range c.MetricsURLs {
		sources = append(sources, usage.Prometheus(fmt.Sprintf("server %d (%s)", i+1, u), u, nil))
	}
	for _, ag := range agents {
		sources = append(sources, usage.GeneratorProc(fmt.Sprintf("agent %d", ag.idx+1), ag.cmd.Process.Pid))
	}
	sampler := usage.NewSampler(time.Second, start, sources...)
	sctx, stopSampler := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(1)
	go func() { defer bg.Done(); _ = sampler.Run(sctx) }()

	if c.Cut != nil && hosts != nil {
		h := hosts[c.Cut.Agent]
		f := fault{name: h.Name, down: h.Disconnect, up: h.Reconnect}
		if bt != nil { // the agents' traffic goes through the bridge, not the link
			f.down = func(context.Context) error { return bt.bridge.Pause(h.Name) }
			f.up = func(context.Context) error { return bt.bridge.Resume(h.Name) }
		}
		bg.Add(1)
		go func() {
			defer bg.Done()
			b.cut(sctx, f, first.Add(c.Cut.At), c.Cut.For, p)
		}()
	}
	if meter != nil {
		bg.Add(1)
		go func() { defer bg.Done(); meter.run(sctx) }()
	}
	var rec *roomRecorder
	if c.Record {
		rec = &roomRecorder{rooms: made, dir: c.RecordDir, tracks: c.Rooms * c.Publishers * 2}
		if loc != nil {
			rec.dir = loc.recordDir
		}
		// Recorded from once everyone is in until they leave.
		bg.Add(1)
		go func() { defer bg.Done(); rec.run(sctx, lastJoin.Add(2*time.Second), until) }()
		p.Printf("recording every room from %s", lastJoin.Add(2*time.Second).Format("15:04:05.000"))
	}
	var window relayWindow
	if c.multiRegion() {
		bg.Add(1)
		go func() { defer bg.Done(); window = relayRates(sctx, c.MetricsURLs, lastJoin, until) }()
	}

	p.Printf("%d participants in %d agents, joins every %s from %s, leaving at %s", len(all), c.Agents, spread, first.Format("15:04:05.000"), until.Format("15:04:05.000"))
	allDone := make(chan struct{})
	go func() {
		for _, ag := range agents {
			err := <-ag.done
			ag.done <- err
		}
		close(allDone)
	}()
	tk := time.NewTicker(time.Second)
	deadline := time.NewTimer(time.Until(until) + 30*time.Second)
	var agentErrs []string
wait:
	for {
		select {
		case <-tk.C:
			j, rx, loss, errs := col.status()
			p.Update("joined %d/%d  rx %.0f kbps  loss %.2f%%  errors %d", j, len(all), rx/1e3, loss, errs)
		case <-allDone:
			break wait
		case <-deadline.C:
			agentErrs = append(agentErrs, "agents did not finish in time: stopped")
			stopAgents(agents)
		case <-ctx.Done():
			stopAgents(agents)
			<-allDone
			break wait
		}
	}
	for _, ag := range agents {
		err := <-ag.done
		ag.done <- err
		if err != nil {
			agentErrs = append(agentErrs, fmt.Sprintf("agent %d: %v: %s", ag.idx+1, err, ag.stderr.String()))
		}
	}
	tk.Stop()
	deadline.Stop()
	stopSampler()
	bg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	col.fill(r, c, len(all))
	if c.multiRegion() {
		if fleet != nil {
			var err error
			if window.drops, err = fleet.lossDrops(ctx); err != nil {
				r.Warn("link loss rules: %v", err)
			}
			fleet.fill(r)
		}
		col.fillPairs(r, c, window)
	}
	if meter != nil {
		meter.fill(r, col, c.Rooms*(c.Participants-c.Publishers))
	}
	if rec != nil {
		rec.fill(r)
	}
	for _, e := range agentErrs {
		r.Warn("%s", e)
	}
	if bt != nil {
		bt.fill(r)
	}
	sampler.Report().Fill(r)
	r.Meta.DurationSec = time.Since(start).Seconds()
	return r, nil
}

func (b *Bench) startAgent(ag *agent, plan participant.Plan, col *collector) error {
	in, err := json.Marshal(plan)
	if err != nil {
		return err
	}
	ag.cmd.Stdin = bytes.NewReader(in)
	ag.cmd.Env = append(os.Environ(), b.cfg.AgentEnv...)
	ag.cmd.Stderr = &ag.stderr
	if b.cfg.AgentStderr != nil {
		ag.cmd.Stderr = io.MultiWriter(&ag.stderr, b.cfg.AgentStderr)
	}
	ag.cmd.SysProcAttr = procattr.DieWithParent(syscall.SIGKILL)
	out, err := ag.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := ag.cmd.Start(); err != nil {
		return fmt.Errorf("roomsbench: start agent: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var e participant.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				col.add(ag.idx, participant.Event{Ev: "error", Msg: "bad agent line: " + truncate(sc.Text(), 200)})
				continue
			}
			col.add(ag.idx, e)
		}
		_, _ = io.Copy(io.Discard, out)
		ag.done <- ag.cmd.Wait()
	}()
	return nil
}

func stopAgents(agents []*agent) {
	for _, ag := range agents {
		if ag != nil && ag.cmd.Process != nil && ag.cmd.ProcessState == nil {
			_ = ag.cmd.Process.Signal(os.Interrupt)
		}
	}
	for _, ag := range agents {
		if ag == nil || ag.cmd.Process == nil {
			continue
		}
		select {
		case err := <-ag.done:
			ag.done <- err
		case <-time.After(10 * time.Second):
			_ = ag.cmd.Process.Kill()
			err := <-ag.done
			ag.done <- err
		}
	}
}

// fault is how an agent is cut off: its link, or its bridge.
type fault struct {
	name     string
	down, up func(context.Context) error
}

// cut takes an agent off the network at at, for d.
func (b *Bench) cut(ctx context.Context, f fault, at time.Time, d time.Duration, p *progress.Printer) {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	if err := f.down(context.Background()); err != nil {
		p.Printf("cut: %v", err)
		return
	}
	p.Printf("cut: %s off the network for %s", f.name, d)
	t.Reset(d)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	if err := f.up(context.Background()); err != nil {
		p.Printf("cut: reconnect: %v", err)
	}
}

// tail keeps the last 4 KiB written (an agent's stderr).
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
