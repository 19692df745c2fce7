package roomsbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/prometheus/procfs"

	"github.com/spacecast/spacecast/bench/participant"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/internal/netns"
)

// ErrNoServer means no process listens on the server URL's port.
var ErrNoServer = errors.New("roomsbench: no process listens on the server's port")

// benchRange is where a directly targeted server must listen: the RFC 2544
// benchmarking range, which the agents' namespaces route to this machine.
var benchRange = netip.MustParsePrefix("198.18.0.0/15")

// serverAddr checks a --livekit-url and returns its host and port.
func serverAddr(raw string) (netip.AddrPort, error) {
	host, port, err := hostPort(raw, map[string]string{"ws": "80", "wss": "443"}, "ws://host:port or wss://host:port")
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("livekitURL %w", err)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !benchRange.Contains(addr) {
		return netip.AddrPort{}, fmt.Errorf("livekitURL %q: the host must be an address of this machine in %s (participants run in network namespaces and the SDK skips loopback)", raw, benchRange)
	}
	return netip.AddrPortFrom(addr, port), nil
}

// hostPort reads a URL whose scheme is one of defaultPorts' keys (the
// value is its port when the URL gives none): its host name and port.
// Errors say it should look like want.
func hostPort(raw string, defaultPorts map[string]string, want string) (string, uint16, error) {
	u, err := url.Parse(raw)
	if err != nil || defaultPorts[u.Scheme] == "" || u.Host == "" {
		return "", 0, fmt.Errorf("%q: want %s", raw, want)
	}
	port := u.Port()
	if port == "" {
		port = defaultPorts[u.Scheme]
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("%q: bad port", raw)
	}
	return u.Hostname(), uint16(p), nil
}

// directSeats mints one LiveKit token per participant: rooms
// "bench-<run>-<i>", identities "r<i>-p<j>", the first Publishers of each
// room allowed to publish, everyone subscribing.
func directSeats(c Config, run string, ttl time.Duration) ([]participant.Seat, error) {
	var out []participant.Seat
	for i := 0; i < c.Rooms; i++ {
		room := fmt.Sprintf("bench-%s-%d", run, i+1)
		for j := 0; j < c.Participants; j++ {
			name := fmt.Sprintf("r%d-p%d", i+1, j+1)
			pub, sub := j < c.Publishers, true
			tok, err := auth.NewAccessToken(c.APIKey, c.APISecret).
				SetIdentity(name).SetName(name).SetValidFor(ttl).
				SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: room, CanPublish: &pub, CanSubscribe: &sub}).
				ToJWT()
			if err != nil {
				return nil, fmt.Errorf("roomsbench: token: %w", err)
			}
			out = append(out, participant.Seat{Alias: room, AccessToken: tok, Name: name, Publish: pub, URL: c.LiveKitURL})
		}
	}
	return out, nil
}

// startAgentNetwork makes the agents' namespaces and routes the
// benchmarking range through the bridge, so the agents reach a server on
// any address of that range on this machine.
func startAgentNetwork(ctx context.Context, agents int) (*netns.Network, []*netns.Host, error) {
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		return nil, nil, err
	}
	var hosts []*netns.Host
	for i := 0; i < agents; i++ {
		h, err := n.AddHost(ctx)
		if err != nil {
			_ = n.Close()
			return nil, nil, err
		}
		out, err := exec.CommandContext(ctx, "ip", "-n", h.Name, "route", "add", benchRange.String(), "via", n.Gateway().String()).CombinedOutput()
		if err != nil {
			_ = n.Close()
			return nil, nil, fmt.Errorf("roomsbench: route in %s: %w: %s", h.Name, err, strings.TrimSpace(string(out)))
		}
		hosts = append(hosts, h)
	}
	return n, hosts, nil
}

// listenerPID finds the process with a TCP socket listening on port.
func listenerPID(port uint16) (int, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return 0, fmt.Errorf("roomsbench: %w", err)
	}
	const listen = 10 // TCP_LISTEN in /proc/net/tcp
	inodes := map[string]bool{}
	//lint:ignore SA1019 /proc/net/tcp answers this one lookup of a bench; sock_diag over netlink would be a new dependency for it
	for _, read := range []func() (procfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		lines, err := read()
		if err != nil {
			continue // no IPv6, say
		}
		for _, l := range lines {
			if l.St == listen && l.LocalPort == uint64(port) {
				inodes["socket:["+strconv.FormatUint(l.Inode, 10)+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("%w (%d)", ErrNoServer, port)
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return 0, fmt.Errorf("roomsbench: %w", err)
	}
	for _, p := range procs {
		targets, err := p.FileDescriptorTargets()
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, t := range targets {
			if inodes[t] {
				return p.PID, nil
			}
		}
	}
	return 0, fmt.Errorf("%w (%d): socket found, owner not", ErrNoServer, port)
}

// procLabel names a server process for the report: its command name and
// pid.
func procLabel(pid int) string {
	if p, err := procfs.NewProc(pid); err == nil {
		if comm, err := p.Comm(); err == nil && comm != "" {
			return fmt.Sprintf("%s (pid %d)", comm, pid)
		}
	}
	return fmt.Sprintf("server (pid %d)", pid)
}

// procUsage reads a process's CPU seconds and resident bytes.
func procUsage(pid int) (cpu float64, rss float64, err error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, 0, fmt.Errorf("roomsbench: server: %w", err)
	}
	st, err := p.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("roomsbench: server: %w", err)
	}
	return st.CPUTime(), float64(st.ResidentMemory()), nil
}

// dialable reports whether the agents can reach addr from the host side
// (a quick check before the run, with a clear error).
func dialable(ctx context.Context, addr netip.AddrPort) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr.String())
	if err != nil {
		return fmt.Errorf("roomsbench: server %s: %w", addr, err)
	}
	return c.Close()
}

// serverMeter reads the server under test in the run's steady phase:
// after every participant has joined and settled, until just before they
// leave.
type serverMeter struct {
	pid      int
	from, to time.Time

	baseRSS    float64 // before the first join
	cpu0, cpu1 float64
	rss1       float64
	done       bool
	err        error
}

// settle is how long after the last planned join the steady phase starts.
const settle = 5 * time.Second

func newServerMeter(pid int, lastJoin, until time.Time) (*serverMeter, error) {
	m := &serverMeter{pid: pid, from: lastJoin.Add(settle).Truncate(time.Second), to: until.Add(-time.Second).Truncate(time.Second)}
	_, rss, err := procUsage(pid)
	if err != nil {
		return nil, err
	}
	m.baseRSS = rss
	return m, nil
}

// run reads the server at the start and the end of the steady phase; it
// returns early when ctx ends (the phase is then not measured).
func (m *serverMeter) run(ctx context.Context) {
	if !m.to.After(m.from) {
		m.err = fmt.Errorf("roomsbench: no steady phase (the duration must exceed %s after the last join)", settle+time.Second)
		return
	}
	wait := func(at time.Time) bool {
		t := time.NewTimer(time.Until(at))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	if !wait(m.from) {
		return
	}
	if m.cpu0, _, m.err = procUsage(m.pid); m.err != nil {
		return
	}
	if !wait(m.to) {
		return
	}
	if m.cpu1, m.rss1, m.err = procUsage(m.pid); m.err == nil {
		m.done = true
	}
}

// fill adds the server's figures: CPU per forwarded packet (packets the
// subscribers received in the steady phase) and memory per subscriber.
func (m *serverMeter) fill(r *result.Result, col *collector, subscribers int) {
	if m.err != nil {
		r.Warn("server usage: %v", m.err)
		return
	}
	if !m.done {
		r.Warn("server usage: the run ended before its steady phase did")
		return
	}
	secs := m.to.Sub(m.from).Seconds()
	pkts := col.packetsIn(m.from, m.to)
	cpu := m.cpu1 - m.cpu0
	r.Add("server_cpu", result.UnitPercent, 100*cpu/secs, fmt.Sprintf("server CPU (pid %d, 100 per core) in the steady phase", m.pid))
	r.Add("forwarded_pps", result.UnitPerSec, float64(pkts)/secs, "RTP packets the subscribers received per second in the steady phase")
	if pkts > 0 {
		r.Add("server_cpu_us_per_packet", result.UnitUs, cpu*1e6/float64(pkts), "server CPU-µs per forwarded packet in the steady phase")
	}
	r.Add("server_rss", result.UnitBytes, m.rss1, "server resident memory at the end of the steady phase")
	r.Add("server_rss_baseline", result.UnitBytes, m.baseRSS, "server resident memory before the first join")
	if m.rss1 < m.baseRSS {
		r.Warn("server memory fell below its level before the first join (the runtime returned memory): server_rss_per_subscriber is meaningless at this size")
	}
	if subscribers > 0 {
		r.Add("server_rss_per_subscriber", result.UnitBytes, (m.rss1-m.baseRSS)/float64(subscribers), "server resident memory over its baseline, per subscriber")
	}
	r.Add("steady_seconds", result.UnitCount, secs, "length of the steady phase the server figures cover")
}
