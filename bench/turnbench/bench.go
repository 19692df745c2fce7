package turnbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/procfs"

	"github.com/spacecast/spacecast/bench/hist"
	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/usage"
)

// Options is one measurement of one server.
type Options struct {
	Server   string // TURN server UDP address, host:port
	Username string // TURN REST credential (see internal/turncred)
	Password string //nolint:gosec // runtime credential
	// Credential, when set, gives allocation i its own credential (as
	// real clients have theirs: a server's per-user quota then does not
	// cap the run); otherwise every allocation uses Username/Password.
	Credential func(i int) (username, password string)
	// ServerCPU reads the server's CPU time (usage.Proc for a local
	// process, usage.Prometheus for a remote one); nil: not measured.
	ServerCPU usage.Source
	// Generator reads the load generator's CPU time (default usage.Self()).
	Generator   usage.Source
	Allocations int           // allocations (each with one channel and one peer)
	Payload     int           // bytes per packet
	Rates       []int         // offered packets/s, both directions together, one step each
	Step        time.Duration // length of each step
	// PeerIP is where the peers bind: the server's relay sends to them
	// (default: this machine's address toward the server, 127.0.0.1 for
	// a server on loopback).
	PeerIP netip.Addr

	Senders int // sending goroutines (default GOMAXPROCS)
	// Label names the server in progress lines; Progress shows them (nil:
	// nothing shown).
	Label    string
	Progress *progress.Printer
}

// Step is the measurement at one offered rate.
type Step struct {
	OfferedPPS        int     `json:"offeredPps"`
	SentPPS           float64 `json:"sentPps"`
	DeliveredPPS      float64 `json:"deliveredPps"`
	LossPercent       float64 `json:"lossPercent"`
	ServerCPUPercent  float64 `json:"serverCpuPercent"`
	ServerCPUMicros   float64 `json:"serverCpuMicrosPerPacket"`
	GeneratorCPUMicro float64 `json:"generatorCpuMicrosPerPacket"`
	// GeneratorCPUPercent is the generator's CPU over the step (100 per
	// core). GeneratorLimited is set when the generator could not offer
	// the rate (sent below 90% of it) or kept its cores 85% busy: what
	// was delivered then says more about the generator than the server.
	GeneratorCPUPercent float64 `json:"generatorCpuPercent"`
	GeneratorLimited    bool    `json:"generatorLimited"`
	// MachineCPUPercent is the whole machine's busy CPU over the step (100
	// per core). A saturated machine on which the generator used more CPU
	// than the server also makes the step generator-limited.
	MachineCPUPercent float64 `json:"machineCpuPercent"`
}

// Result is the outcome of a run: plain data, ready for JSON.
type Result struct {
	Scenario    string    `json:"scenario"`
	Target      string    `json:"target"`
	Server      string    `json:"server"`
	Allocations int       `json:"allocations"`
	Payload     int       `json:"payloadBytes"`
	Started     time.Time `json:"started"`
	Steps       []Step    `json:"steps"`
	// SaturationPPS is the most packets/s delivered at any step.
	SaturationPPS float64 `json:"saturationPps"`
	// CPUMicrosPerPacket is the server's CPU time per delivered packet at
	// the saturation step (0 when no server PID was given).
	CPUMicrosPerPacket float64 `json:"cpuMicrosPerPacket"`
	// ServerCPU says whether the server's CPU was read (Options.ServerCPU).
	ServerCPU bool `json:"serverCpuMeasured"`
	// Saturation is the index in Steps of the saturation step (-1: none).
	Saturation int `json:"saturationStep"`
	// Allocate is the time each allocation took (Allocate + ChannelBind
	// with their authentication round trips), in nanoseconds.
	Allocate *hist.Histogram `json:"-"`
}

// SaturationStep returns the step that delivered the most packets/s.
func (r Result) SaturationStep() (Step, bool) {
	if r.Saturation < 0 || r.Saturation >= len(r.Steps) {
		return Step{}, false
	}
	return r.Steps[r.Saturation], true
}

// ErrConfig marks an unusable Config or Options.
var ErrConfig = errors.New("turnbench: invalid config")

// Measure opens the allocations and runs every step.
func Measure(ctx context.Context, cfg Options) (Result, error) {
	if cfg.Allocations < 1 || cfg.Payload < 1 || cfg.Payload > 1400 || len(cfg.Rates) == 0 || cfg.Step <= 0 {
		return Result{}, fmt.Errorf("%w: %d allocations, %d-byte payload, rates %v, step %v", ErrConfig, cfg.Allocations, cfg.Payload, cfg.Rates, cfg.Step)
	}
	if cfg.Generator == nil {
		cfg.Generator = usage.Self()
	}
	if cfg.Senders < 1 {
		cfg.Senders = runtime.GOMAXPROCS(0)
	}
	server, err := net.ResolveUDPAddr("udp", cfg.Server)
	if err != nil {
		return Result{}, fmt.Errorf("%w: server: %w", ErrConfig, err)
	}
	if !cfg.PeerIP.IsValid() {
		if cfg.PeerIP, err = routeTo(server); err != nil {
			return Result{}, err
		}
	}
	allocs := make([]*allocation, 0, cfg.Allocations)
	defer func() {
		for _, a := range allocs {
			a.close()
		}
	}()
	res := Result{Scenario: "turn", Server: cfg.Server, Allocations: cfg.Allocations, Payload: cfg.Payload,
		Started: time.Now().UTC(), Saturation: -1, Allocate: hist.New(), ServerCPU: cfg.ServerCPU != nil}
	for i := range cfg.Allocations {
		t0 := time.Now()
		user, pass := cfg.Username, cfg.Password
		if cfg.Credential != nil {
			user, pass = cfg.Credential(i)
		}
		a, err := open(server, user, pass, cfg.PeerIP, uint16(0x4000+i%0x3fff)) //nolint:gosec
		if err != nil {
			return Result{}, fmt.Errorf("allocation %d: %w", i, err)
		}
		res.Allocate.RecordDuration(time.Since(t0))
		allocs = append(allocs, a)
		cfg.Progress.Update("%s: %d of %d allocations open", cfg.Label, i+1, cfg.Allocations)
	}
	cfg.Progress.Printf("%s: %d allocations open on %s (p50 %.2f ms each)", cfg.Label, len(allocs), cfg.Server,
		float64(res.Allocate.Quantile(0.5))/1e6)

	g := &generator{cfg: cfg, allocs: allocs}
	var wg sync.WaitGroup
	g.start(&wg)
	defer func() {
		g.stop()
		wg.Wait()
	}()

	below := 0
	for _, rate := range cfg.Rates {
		if ctx.Err() != nil {
			break
		}
		st, err := g.step(ctx, rate)
		if err != nil {
			return res, err
		}
		limited := ""
		if st.GeneratorLimited {
			limited = "  (generator-limited)"
		}
		cfg.Progress.Printf("%s: %8d/s offered  %9.0f sent/s  %9.0f delivered/s  loss %5.2f%%  server %5.2f µs/pkt, %3.0f%% CPU  generator %5.2f µs/pkt, %3.0f%% CPU  machine %3.0f%%%s",
			cfg.Label, rate, st.SentPPS, st.DeliveredPPS, st.LossPercent, st.ServerCPUMicros, st.ServerCPUPercent,
			st.GeneratorCPUMicro, st.GeneratorCPUPercent, st.MachineCPUPercent, limited)
		res.Steps = append(res.Steps, st)
		if st.DeliveredPPS > res.SaturationPPS {
			res.SaturationPPS = st.DeliveredPPS
			res.CPUMicrosPerPacket = st.ServerCPUMicros
			res.Saturation = len(res.Steps) - 1
		}
		// Two steps in a row far below the offered rate: saturated.
		if st.DeliveredPPS < 0.8*float64(rate) {
			if below++; below == 2 {
				break
			}
		} else {
			below = 0
		}
	}
	return res, nil
}

// generator sends paced traffic and counts what arrives.
type generator struct {
	cfg    Options
	allocs []*allocation

	rate      atomic.Int64 // packets/s, both directions
	sent      atomic.Uint64
	delivered atomic.Uint64
	quit      chan struct{}
}

func (g *generator) start(wg *sync.WaitGroup) {
	g.quit = make(chan struct{})
	for _, a := range g.allocs {
		wg.Add(2)
		go func() { defer wg.Done(); g.receive(a.client) }()
		go func() { defer wg.Done(); g.receive(a.peer) }()
	}
	per := (len(g.allocs) + g.cfg.Senders - 1) / g.cfg.Senders
	for i := 0; i < len(g.allocs); i += per {
		part := g.allocs[i:min(i+per, len(g.allocs))]
		share := float64(len(part)) / float64(len(g.allocs))
		wg.Add(1)
		go func() { defer wg.Done(); g.send(part, share) }()
	}
}

func (g *generator) stop() {
	close(g.quit)
	for _, a := range g.allocs {
		_ = a.client.SetReadDeadline(time.Now())
		_ = a.peer.SetReadDeadline(time.Now())
	}
}

func (g *generator) receive(c *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		if _, err := c.Read(buf); err != nil {
			return // closed, or the deadline stop set
		}
		g.delivered.Add(1)
	}
}

// send paces its share of the rate over its allocations, alternating
// client→peer (ChannelData) and peer→client (raw UDP to the relay).
func (g *generator) send(part []*allocation, share float64) {
	chData := make([][]byte, len(part))
	raw := make([]byte, g.cfg.Payload)
	for i, a := range part {
		b := make([]byte, 4+g.cfg.Payload)
		b[0], b[1] = byte(a.ch>>8), byte(a.ch)
		b[2], b[3] = byte(g.cfg.Payload>>8), byte(g.cfg.Payload)
		chData[i] = b
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var done float64
	last := time.Now()
	next := 0
	for {
		select {
		case <-g.quit:
			return
		case now := <-tick.C:
			rate := float64(g.rate.Load()) * share
			done -= rate * now.Sub(last).Seconds()
			last = now
			if rate == 0 {
				done = 0
				continue
			}
			if done < -rate/10 { // at most 100 ms of backlog
				done = -rate / 10
			}
			var sent uint64
			for done < 0 {
				i := next % len(part)
				var err error
				if next/len(part)%2 == 0 {
					_, err = part[i].client.Write(chData[i])
				} else {
					_, err = part[i].peer.Write(raw)
				}
				next++
				done++
				if err == nil {
					sent++
				}
				// A generator behind its rate sends its backlog in one
				// burst: stop it when the step ends or the run stops.
				if next%1024 == 0 {
					if g.rate.Load() == 0 {
						done = 0
						break
					}
					select {
					case <-g.quit:
						g.sent.Add(sent)
						return
					default:
					}
				}
			}
			g.sent.Add(sent)
		}
	}
}

// step offers rate for cfg.Step, drains, and measures.
func (g *generator) step(ctx context.Context, rate int) (Step, error) {
	sent0, del0 := g.sent.Load(), g.delivered.Load()
	srv0 := g.cpu(ctx, g.cfg.ServerCPU)
	gen0 := g.cpu(ctx, g.cfg.Generator)
	mach0 := machineBusy()
	t0 := time.Now()
	g.rate.Store(int64(rate))
	tick := time.NewTicker(250 * time.Millisecond)
	end := time.NewTimer(g.cfg.Step)
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-end.C:
			break wait
		case now := <-tick.C:
			el := now.Sub(t0).Seconds()
			g.cfg.Progress.Update("%s: %d/s offered  %.1fs  %.0f sent/s  %.0f delivered/s", g.cfg.Label, rate, el,
				float64(g.sent.Load()-sent0)/el, float64(g.delivered.Load()-del0)/el)
		}
	}
	tick.Stop()
	end.Stop()
	g.rate.Store(0)
	elapsed := time.Since(t0)
	// Drain what is still in flight.
	select {
	case <-ctx.Done():
	case <-time.After(300 * time.Millisecond):
	}
	sent, del := g.sent.Load()-sent0, g.delivered.Load()-del0
	srv1 := g.cpu(ctx, g.cfg.ServerCPU)
	gen1 := g.cpu(ctx, g.cfg.Generator)
	mach1 := machineBusy()
	st := Step{
		OfferedPPS:   rate,
		SentPPS:      float64(sent) / elapsed.Seconds(),
		DeliveredPPS: float64(del) / elapsed.Seconds(),
	}
	if sent > 0 {
		st.LossPercent = 100 * (1 - float64(del)/float64(sent))
		if st.LossPercent < 0 {
			st.LossPercent = 0
		}
	}
	// The CPU readings span the step and its drain.
	span := time.Since(t0).Seconds()
	if srv0 >= 0 && srv1 >= srv0 && del > 0 {
		st.ServerCPUMicros = 1e6 * (srv1 - srv0) / float64(del)
		st.ServerCPUPercent = 100 * (srv1 - srv0) / span
	}
	if gen0 >= 0 && gen1 >= gen0 {
		st.GeneratorCPUPercent = 100 * (gen1 - gen0) / span
		if del > 0 {
			st.GeneratorCPUMicro = 1e6 * (gen1 - gen0) / float64(del)
		}
	}
	if mach0 >= 0 && mach1 >= mach0 {
		st.MachineCPUPercent = 100 * (mach1 - mach0) / span
	}
	cores := float64(min(runtime.GOMAXPROCS(0), runtime.NumCPU()))
	st.GeneratorLimited = st.SentPPS < 0.9*float64(rate) || st.GeneratorCPUPercent >= 85*cores ||
		(st.MachineCPUPercent >= 90*float64(runtime.NumCPU()) && st.ServerCPUPercent > 0 && st.GeneratorCPUPercent > st.ServerCPUPercent)
	return st, ctx.Err()
}

// routeTo is this machine's address toward server (a UDP "connection"
// sends nothing; it only picks the route).
func routeTo(server *net.UDPAddr) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, server)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("turnbench: no route to %v: %w", server, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// machineBusy is the machine's busy CPU seconds so far (all cores); -1
// when /proc/stat cannot be read.
func machineBusy() float64 {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return -1
	}
	st, err := fs.Stat()
	if err != nil {
		return -1
	}
	c := st.CPUTotal
	return c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
}

// cpu reads src's CPU seconds; -1 when there is no source or it failed.
func (g *generator) cpu(ctx context.Context, src usage.Source) float64 {
	if src == nil {
		return -1
	}
	v, _, err := src.Read(ctx)
	if err != nil {
		return -1
	}
	return v
}
