package turnbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one benchmark run.
type Config struct {
	Server      string        // TURN server UDP address, host:port
	Username    string        // TURN REST credential (see turn.Credential)
	Password    string        //nolint:gosec // runtime credential
	ServerPID   int           // process whose CPU is measured; 0: none
	Allocations int           // allocations (each with one channel and one peer)
	Payload     int           // bytes per packet
	Rates       []int         // offered packets/s, both directions together, one step each
	Step        time.Duration // length of each step
	PeerIP      netip.Addr    // where the peers bind (default 127.0.0.1)
	Senders     int           // sending goroutines (default GOMAXPROCS)
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
}

// ErrConfig marks an unusable Config.
var ErrConfig = errors.New("turnbench: invalid config")

// Run opens the allocations and runs every step.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (Result, error) {
	if cfg.Allocations < 1 || cfg.Payload < 1 || cfg.Payload > 1400 || len(cfg.Rates) == 0 || cfg.Step <= 0 {
		return Result{}, fmt.Errorf("%w: %+v", ErrConfig, cfg)
	}
	if !cfg.PeerIP.IsValid() {
		cfg.PeerIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if cfg.Senders < 1 {
		cfg.Senders = runtime.GOMAXPROCS(0)
	}
	server, err := net.ResolveUDPAddr("udp", cfg.Server)
	if err != nil {
		return Result{}, fmt.Errorf("%w: server: %w", ErrConfig, err)
	}
	allocs := make([]*allocation, 0, cfg.Allocations)
	defer func() {
		for _, a := range allocs {
			a.close()
		}
	}()
	for i := range cfg.Allocations {
		a, err := open(server, cfg.Username, cfg.Password, cfg.PeerIP, uint16(0x4000+i%0x3fff)) //nolint:gosec
		if err != nil {
			return Result{}, fmt.Errorf("allocation %d: %w", i, err)
		}
		allocs = append(allocs, a)
	}
	log.Info("allocations open", "n", len(allocs), "server", cfg.Server)

	g := &generator{cfg: cfg, allocs: allocs}
	var wg sync.WaitGroup
	g.start(&wg)
	defer func() {
		g.stop()
		wg.Wait()
	}()

	res := Result{Scenario: "turn", Server: cfg.Server, Allocations: cfg.Allocations, Payload: cfg.Payload, Started: time.Now().UTC()}
	below := 0
	for _, rate := range cfg.Rates {
		if ctx.Err() != nil {
			break
		}
		st, err := g.step(ctx, rate)
		if err != nil {
			return res, err
		}
		log.Info("step", "offered", rate, "sent", int(st.SentPPS), "delivered", int(st.DeliveredPPS),
			"loss%", fmt.Sprintf("%.2f", st.LossPercent), "serverCPU%", fmt.Sprintf("%.0f", st.ServerCPUPercent),
			"cpuµs/pkt", fmt.Sprintf("%.2f", st.ServerCPUMicros))
		res.Steps = append(res.Steps, st)
		if st.DeliveredPPS > res.SaturationPPS {
			res.SaturationPPS = st.DeliveredPPS
			res.CPUMicrosPerPacket = st.ServerCPUMicros
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
	cfg    Config
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
			}
			g.sent.Add(sent)
		}
	}
}

// step offers rate for cfg.Step, drains, and measures.
func (g *generator) step(ctx context.Context, rate int) (Step, error) {
	sent0, del0 := g.sent.Load(), g.delivered.Load()
	srv0, _ := cpuTime(g.cfg.ServerPID)
	gen0, _ := cpuTime(os.Getpid())
	t0 := time.Now()
	g.rate.Store(int64(rate))
	select {
	case <-ctx.Done():
	case <-time.After(g.cfg.Step):
	}
	g.rate.Store(0)
	elapsed := time.Since(t0)
	// Drain what is still in flight.
	time.Sleep(300 * time.Millisecond)
	sent, del := g.sent.Load()-sent0, g.delivered.Load()-del0
	srv1, _ := cpuTime(g.cfg.ServerPID)
	gen1, _ := cpuTime(os.Getpid())
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
	if del > 0 {
		if g.cfg.ServerPID > 0 {
			st.ServerCPUMicros = float64((srv1 - srv0).Microseconds()) / float64(del)
			st.ServerCPUPercent = 100 * (srv1 - srv0).Seconds() / elapsed.Seconds()
		}
		st.GeneratorCPUMicro = float64((gen1 - gen0).Microseconds()) / float64(del)
	}
	return st, ctx.Err()
}

// cpuTime reads a process's user+system CPU time from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("turnbench: bad /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("turnbench: short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clkTck, nil
}
