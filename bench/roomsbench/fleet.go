package roomsbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spacecast/spacecast/bench/impair"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/procattr"
)

// Ports inside each server's namespace: every process has a namespace
// and an address of its own, made by the run, so fixed ports collide
// with nothing on the machine.
const (
	fleetAPIPort     = "8080"
	fleetSignalPort  = "7880"
	fleetRTCPort     = "7882"
	fleetTURNPort    = "3478"
	fleetGossipPort  = "7946"
	fleetWANPort     = "7947"
	fleetRelayPort   = "7883"
	fleetMetricsPort = "9090"
)

// ErrFleet means the self-contained multi-region fleet did not come up.
var ErrFleet = errors.New("roomsbench: multi-region fleet")

// server is one spacecast process of the fleet, in its namespace.
type server struct {
	name, region string
	host         *netns.Host
	cmd          *exec.Cmd
	stderr       *tail
	done         chan error
}

// regionFleet is a self-contained multi-region deployment: a control
// plane and each region's edges, each a spacecast process in a namespace
// of its own on one bridge, one agent namespace per region, and between
// the regions' servers the links of the config (delay and jitter by a
// relay in each receiving namespace, loss by iptables, rate by htb).
type regionFleet struct {
	cfg    Config
	net    *netns.Network
	dir    string
	cp     *server
	edges  []*server
	agents []*netns.Host // one per region, in the config's order
	relays []*impair.DelayRelay
	api    string
	client struct{ ID, Secret string }

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startRegionFleet makes the network, starts the control plane and the
// edges, shapes the links between regions and waits until the control
// plane lists every edge.
func startRegionFleet(ctx context.Context, c Config, log *slog.Logger) (_ *regionFleet, err error) {
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		return nil, err
	}
	f := &regionFleet{cfg: c, net: n}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	if f.dir, err = os.MkdirTemp("", "spacecast-bench-regions-"); err != nil {
		return nil, fmt.Errorf("roomsbench: %w", err)
	}
	cl, err := clusterkey.Generate()
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), clusterEnv(cl)...)
	// The API client, made in the control plane's store before it starts.
	data := filepath.Join(f.dir, "cp-data")
	out, err := exec.CommandContext(ctx, c.Exe, "admin", "client", "create", "--data", data, "--name", "bench", "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("%w: admin client create: %w", ErrFleet, err)
	}
	var cc struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal(out, &cc); err != nil {
		return nil, fmt.Errorf("%w: admin client create said %q: %w", ErrFleet, out, err)
	}
	f.client.ID, f.client.Secret = cc.ClientID, cc.ClientSecret

	runCtx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	home := c.Regions[0].Name // the control plane's region
	cpHost, err := n.AddHost(ctx)
	if err != nil {
		return nil, err
	}
	ip := cpHost.Addr().String()
	f.api = "http://" + ip + ":" + fleetAPIPort
	f.cp = &server{name: "controlplane", region: home, host: cpHost}
	if err := f.start(runCtx, f.cp, env, "controlplane", controlPlaneYAML(ip, data, home)); err != nil {
		return nil, err
	}
	// Each region's first edge seeds its region's pool (region home's:
	// the control plane); the regions meet in the WAN pool through the
	// control plane.
	for _, r := range c.Regions {
		var seed string
		if r.Name == home {
			seed = ip
		}
		for i := range r.Edges {
			h, err := n.AddHost(ctx)
			if err != nil {
				return nil, err
			}
			e := &server{name: fmt.Sprintf("edge-%s%d", r.Name, i+1), region: r.Name, host: h}
			if err := f.start(runCtx, e, env, "edge", edgeYAML(h.Addr().String(), e.name, r.Name, seed, ip)); err != nil {
				return nil, err
			}
			if seed == "" {
				seed = h.Addr().String()
			}
			f.edges = append(f.edges, e)
		}
		h, err := n.AddHost(ctx)
		if err != nil {
			return nil, err
		}
		f.agents = append(f.agents, h)
	}
	if err := f.shape(ctx, runCtx); err != nil {
		return nil, err
	}
	if err := f.waitListed(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	return f, nil
}

// clusterEnv is the environment that gives every process the cluster's
// keys.
func clusterEnv(cl clusterkey.Config) []string {
	var keys []string
	for k, s := range cl.APIKeys {
		keys = append(keys, k+":"+s)
	}
	return []string{
		clusterkey.EnvAPIKeys + "=" + strings.Join(keys, ","),
		clusterkey.EnvSigningKey + "=" + cl.SigningKey,
		clusterkey.EnvTURNSecrets + "=" + strings.Join(cl.TURNSecrets, ","),
		clusterkey.EnvGossipKeys + "=" + strings.Join(cl.GossipKeys, ","),
	}
}

// The WAN pool's timing: the regions are tens of milliseconds apart here,
// not continents; the wan profile's 5 s probes would only slow the start.
const fleetWANTiming = "probeInterval: 1s, probeTimeout: 500ms, suspicionMult: 3, rejoinInterval: 1s"

func controlPlaneYAML(ip, data, region string) string {
	return fmt.Sprintf(`log: {level: warn}
controlplane:
  listen: %[1]s:%[2]s
  publicURL: http://%[1]s:%[2]s
  rateLimit: {joinPerAddress: {rate: 0}, guestJoinPerAddress: {rate: 0}} # the agents are few addresses
store: {dataDir: %[3]s}
gossip:
  nodeId: controlplane
  region: %[4]s
  bindAddr: %[1]s:%[5]s
  profile: lan
  urlAllowlist: [198.18.0.0/15]
  wan: {bindAddr: %[1]s:%[6]s, %[7]s}
placement:
  defaultRegion: %[4]s
`, ip, fleetAPIPort, data, region, fleetGossipPort, fleetWANPort, fleetWANTiming)
}

// edgeYAML is an edge's config: seed is its region pool's seed (empty:
// it starts the pool), cp the control plane's address (the WAN seed and
// the event report).
func edgeYAML(ip, name, region, seed, cp string) string {
	seeds := "[]"
	if seed != "" {
		seeds = "[" + seed + ":" + fleetGossipPort + "]"
	}
	return fmt.Sprintf(`log: {level: warn}
edge:
  listen: %[1]s:%[2]s
  publicURL: ws://%[1]s:%[2]s
  nodeID: %[3]s
  region: %[4]s
  rtc: {udpPort: %[5]s, bindIP: %[1]s}
turn:
  listen: %[1]s:%[6]s
  tlsListen: "off"
  udpSockets: 1
  relayBind: %[1]s
  allow: [198.18.0.0/15]
gossip:
  nodeId: %[3]s
  bindAddr: %[1]s:%[7]s
  seeds: %[8]s
  profile: lan
  urlAllowlist: [198.18.0.0/15]
  wan: {bindAddr: %[1]s:%[9]s, seeds: [%[10]s:%[9]s], %[11]s}
report:
  url: http://%[10]s:%[12]s
relay:
  listen: %[1]s:%[13]s
metrics:
  listen: %[1]s:%[14]s
`, ip, fleetSignalPort, name, region, fleetRTCPort, fleetTURNPort, fleetGossipPort, seeds, fleetWANPort, cp, fleetWANTiming, fleetAPIPort, fleetRelayPort, fleetMetricsPort)
}

// start writes s's config and starts `spacecast ROLE --config` in its
// namespace; the process dies with the run (and with the bench).
func (f *regionFleet) start(ctx context.Context, s *server, env []string, role, yaml string) error {
	path := filepath.Join(f.dir, s.name+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return fmt.Errorf("roomsbench: %w", err)
	}
	s.cmd = s.host.Command(ctx, f.cfg.Exe, role, "--config", path)
	s.cmd.Env = env
	s.stderr = &tail{}
	s.cmd.Stderr = s.stderr
	if f.cfg.AgentStderr != nil {
		s.cmd.Stderr = &prefixWriter{w: f.cfg.AgentStderr, prefix: s.name + ": ", t: s.stderr}
	}
	s.cmd.SysProcAttr = procattr.DieWithParent(syscall.SIGKILL)
	s.cmd.Cancel = func() error { return s.cmd.Process.Signal(os.Interrupt) }
	s.cmd.WaitDelay = 10 * time.Second
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("%w: start %s: %w", ErrFleet, s.name, err)
	}
	s.done = make(chan error, 1)
	f.wg.Go(func() { s.done <- s.cmd.Wait() })
	return nil
}

// prefixWriter copies a process's stderr to w, each write behind the
// process's name, and keeps its tail.
type prefixWriter struct {
	w      interface{ Write([]byte) (int, error) }
	prefix string
	t      *tail
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	_, _ = p.t.Write(b)
	_, _ = p.w.Write(append([]byte(p.prefix), b...))
	return len(b), nil
}

// servers are the control plane and the edges.
func (f *regionFleet) servers() []*server { return append([]*server{f.cp}, f.edges...) }

// addrs are the addresses of the servers of region r.
func (f *regionFleet) addrs(r string) []netip.Addr {
	var a []netip.Addr
	for _, s := range f.servers() {
		if s.region == r {
			a = append(a, s.host.Addr())
		}
	}
	return a
}

// shape puts the links between regions in place: in each server's
// namespace, the datagrams from every other region's servers are delayed
// and dropped as that link says, and what it sends to another region is
// capped at the link's rate.
func (f *regionFleet) shape(ctx, runCtx context.Context) error {
	needRelay, needLoss, needRate := false, false, false
	for i, a := range f.cfg.Regions {
		for _, b := range f.cfg.Regions[i+1:] {
			l := f.cfg.link(a.Name, b.Name)
			needRelay = needRelay || l.Delay > 0 || l.Jitter > 0
			needLoss = needLoss || l.LossPercent > 0
			needRate = needRate || l.RateKbps > 0
		}
	}
	if needRelay || needLoss {
		if err := impair.Available(); err != nil {
			return err
		}
	}
	if needRate {
		if _, err := exec.LookPath("tc"); err != nil {
			return fmt.Errorf("%w: tc (iproute2) caps the links' rate: %w", impair.ErrUnavailable, err)
		}
	}
	for i, s := range f.servers() {
		var classes []impair.Class
		var rate []rateClass
		for _, q := range f.cfg.Regions {
			if q.Name == s.region {
				continue
			}
			l, from := f.cfg.link(q.Name, s.region), f.addrs(q.Name)
			if len(from) == 0 {
				continue
			}
			if l.Delay > 0 || l.Jitter > 0 {
				classes = append(classes, impair.Class{Sources: from, Delay: l.Delay, Jitter: l.Jitter})
			}
			if l.LossPercent > 0 {
				if err := impair.AddLoss(ctx, s.host, l.LossPercent/100, from, pairTag(q.Name, s.region)); err != nil {
					return err
				}
			}
			if l.RateKbps > 0 {
				rate = append(rate, rateClass{kbps: l.RateKbps, to: from})
			}
		}
		for _, args := range htbCommands(rate) {
			if out, err := s.host.Command(ctx, "tc", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("roomsbench: tc %s in %s: %w: %s", strings.Join(args, " "), s.name, err, strings.TrimSpace(string(out)))
			}
		}
		if len(classes) == 0 {
			continue
		}
		rl, err := impair.NewDelayRelay(ctx, s.host, classes, uint64(time.Now().UnixNano())+uint64(i)*7919)
		if err != nil {
			return err
		}
		f.relays = append(f.relays, rl)
		f.wg.Go(func() { rl.Run(runCtx) })
	}
	return nil
}

// pairTag names the link from region a to region b (a loss rule's tag).
func pairTag(a, b string) string { return a + ">" + b }

// rateClass caps what a server sends to some addresses.
type rateClass struct {
	kbps int
	to   []netip.Addr
}

// htbCommands are the tc(8) commands (to run in a server's namespace)
// that cap what it sends to each class's addresses at the class's rate:
// an htb root whose default class is unlimited, one class per capped
// region, u32 filters on the destination.
func htbCommands(classes []rateClass) [][]string {
	if len(classes) == 0 {
		return nil
	}
	cmds := [][]string{
		{"qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "1", "r2q", "100"},
		{"class", "add", "dev", "eth0", "parent", "1:", "classid", "1:1", "htb", "rate", "10gbit"},
	}
	for i, c := range classes {
		id := "1:" + strconv.Itoa(10+i)
		cmds = append(cmds, []string{"class", "add", "dev", "eth0", "parent", "1:", "classid", id, "htb", "rate", strconv.Itoa(c.kbps) + "kbit"})
		for _, a := range c.to {
			cmds = append(cmds, []string{"filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "prio", "1", "u32", "match", "ip", "dst", a.String() + "/32", "flowid", id})
		}
	}
	return cmds
}

// waitListed waits until the control plane lists every region with all
// its edges (GET /v1/regions), or a process exits, or d passes.
func (f *regionFleet) waitListed(ctx context.Context, d time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	want := map[string]int{}
	for _, r := range f.cfg.Regions {
		want[r.Name] = r.Edges
	}
	deadline := time.Now().Add(d)
	last := "no answer"
	for {
		if got, err := listRegions(ctx, hc, f.api); err != nil {
			last = err.Error()
		} else {
			ok := true
			for r, n := range want {
				ok = ok && len(got[r]) == n
			}
			if ok {
				return nil
			}
			last = fmt.Sprintf("regions %v", got)
		}
		for _, s := range f.servers() {
			select {
			case err := <-s.done:
				s.done <- err
				return fmt.Errorf("%w: %s exited (%v): %s", ErrFleet, s.name, err, s.stderr.String())
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: after %s the control plane does not list every edge (%s)", ErrFleet, d, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// listRegions reads GET /v1/regions: region → probe URLs.
func listRegions(ctx context.Context, hc *http.Client, api string) (map[string][]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(api, "/")+"/v1/regions", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/regions: HTTP %d", resp.StatusCode)
	}
	var l struct {
		Regions []struct {
			Name      string   `json:"name"`
			ProbeURLs []string `json:"probeUrls"`
		} `json:"regions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return nil, fmt.Errorf("GET /v1/regions: %w", err)
	}
	out := map[string][]string{}
	for _, r := range l.Regions {
		out[r.Name] = r.ProbeURLs
	}
	return out, nil
}

// metricsURLs are the edges' Prometheus endpoints.
func (f *regionFleet) metricsURLs() []string {
	var u []string
	for _, e := range f.edges {
		u = append(u, "http://"+e.host.Addr().String()+":"+fleetMetricsPort+"/metrics")
	}
	return u
}

// lossDrops are the datagrams the loss rules dropped, by link ("a>b").
func (f *regionFleet) lossDrops(ctx context.Context) (map[string]uint64, error) {
	sum := map[string]uint64{}
	for _, s := range f.servers() {
		m, err := impair.LossDrops(ctx, s.host)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			sum[k] += v
		}
	}
	return sum, nil
}

// relayStats is what the delay relays did, over every server.
func (f *regionFleet) relayStats() impair.RelayStats {
	var s impair.RelayStats
	var held float64
	for _, r := range f.relays {
		st := r.Stats()
		s.Relayed += st.Relayed
		s.Overflow += st.Overflow
		s.Errors += st.Errors
		held += st.MeanDelayMs * float64(st.Relayed)
	}
	if s.Relayed > 0 {
		s.MeanDelayMs = held / float64(s.Relayed)
	}
	return s
}

// close stops every process (interrupt, then kill after 10 s) and the
// relays, waits for them, and deletes the network and the data.
func (f *regionFleet) close() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
	_ = f.net.Close()
	if f.dir != "" {
		_ = os.RemoveAll(f.dir)
	}
}

// fill adds what the links' delay relays did to r.
func (f *regionFleet) fill(r *result.Result) {
	if len(f.relays) == 0 {
		return
	}
	s := f.relayStats()
	r.Add("link_delay_held", result.UnitMs, s.MeanDelayMs, "mean time the links' delay relays held a datagram between regions (the injected one-way delay, as applied)")
	r.Add("link_delay_relayed", result.UnitCount, float64(s.Relayed), "datagrams the links' delay relays carried between regions")
	if s.Overflow > 0 || s.Errors > 0 {
		r.Warn("links' delay relays: %d datagrams dropped (queue full), %d errors", s.Overflow, s.Errors)
	}
}
