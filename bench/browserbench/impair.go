package browserbench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spacecast/spacecast/internal/netns"
)

// Loss and delay happen inside the subscriber's namespace, on what comes
// in through its eth0 (after the shaper on the other end of its veth):
//
//   - loss: a rule in the raw table's PREROUTING drops each UDP datagram
//     with the link's probability (iptables -m statistic --mode random);
//   - delay: a rule in the mangle table's PREROUTING hands every UDP
//     datagram to the relay's transparent socket (TPROXY, with the routing
//     rule a TPROXY mark needs), which reads it with its original
//     destination (IP_ORIGDSTADDR), holds it, and sends it on to that
//     destination from a transparent socket bound to its original source
//     (the server's address and port), over the namespace's loopback.
//     The browser sees the server's datagram, late.
//
// The rules go away with the namespace. The TCP signalling is left alone.

// tproxyMark and tproxyTable route a TPROXY-marked datagram to the local
// stack (ip-rule(8)): the namespace is new, so nothing else uses them.
const (
	tproxyMark  = "0x1"
	tproxyTable = "100"
	// relayQueue bounds the datagrams the relay holds at once (a second
	// of 2 Mbit/s video is ~200); beyond it they are dropped and counted.
	relayQueue = 8192
)

// lossArgs is the iptables(8) command line that drops a share p of the
// UDP datagrams coming in through eth0.
func lossArgs(p float64) []string {
	return []string{"-w", "-t", "raw", "-A", "PREROUTING", "-i", "eth0", "-p", "udp",
		"-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(p, 'f', -1, 64),
		"-m", "comment", "--comment", "browserbench-loss", "-j", "DROP"}
}

// tproxyCommands are the commands (ip(8) and iptables(8), to run inside
// the namespace) that hand every UDP datagram coming in through eth0 to
// a transparent socket on 127.0.0.1:port.
func tproxyCommands(port uint16) [][]string {
	return [][]string{
		{"ip", "rule", "add", "fwmark", tproxyMark + "/" + tproxyMark, "lookup", tproxyTable},
		{"ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", tproxyTable},
		{"iptables", "-w", "-t", "mangle", "-A", "PREROUTING", "-i", "eth0", "-p", "udp",
			"-j", "TPROXY", "--on-ip", "127.0.0.1", "--on-port", strconv.Itoa(int(port)),
			"--tproxy-mark", tproxyMark + "/" + tproxyMark},
	}
}

// inHost runs one command inside the host's namespace.
func inHost(ctx context.Context, h *netns.Host, args ...string) error {
	out, err := h.Command(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("browserbench: in %s: %s: %w: %s", h.Name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// addLoss installs the loss rule in the host.
func addLoss(ctx context.Context, h *netns.Host, p float64) error {
	return inHost(ctx, h, append([]string{"iptables"}, lossArgs(p)...)...)
}

// ruleCount matches a rule line of `iptables -nvxL`: its packet count
// first, and the comment that names it.
var ruleCount = regexp.MustCompile(`^\s*(\d+)\s+\d+\s+DROP\b.*browserbench-loss`)

// parseLossDrops reads the loss rule's packet count from `iptables -t raw
// -nvxL PREROUTING`.
func parseLossDrops(out string) (uint64, bool) {
	for _, l := range strings.Split(out, "\n") {
		if m := ruleCount.FindStringSubmatch(l); m != nil {
			n, err := strconv.ParseUint(m[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// lossDrops is how many datagrams the host's loss rule dropped.
func lossDrops(ctx context.Context, h *netns.Host) (uint64, error) {
	out, err := h.Command(ctx, "iptables", "-w", "-t", "raw", "-nvxL", "PREROUTING").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("browserbench: iptables -nvxL in %s: %w: %s", h.Name, err, strings.TrimSpace(string(out)))
	}
	n, ok := parseLossDrops(string(out))
	if !ok {
		return 0, fmt.Errorf("browserbench: no loss rule in %s", h.Name)
	}
	return n, nil
}

// delayClock decides when each datagram leaves: delay ± a uniform jitter
// after it came, never below zero, and never before the datagram before
// it (no reordering).
type delayClock struct {
	delay, jitter time.Duration
	rnd           *rand.Rand
	last          time.Time
}

// release is the departure of a datagram that came at now.
func (c *delayClock) release(now time.Time) time.Time {
	d := c.delay
	if c.jitter > 0 {
		d += time.Duration((c.rnd.Float64()*2 - 1) * float64(c.jitter))
	}
	t := now.Add(max(d, 0))
	if t.Before(c.last) {
		t = c.last
	}
	c.last = t
	return t
}

// RelayStats are what a delay relay did.
type RelayStats struct {
	Relayed uint64 `json:"relayed"`
	// Overflow counts datagrams dropped because the relay already held
	// relayQueue of them; Errors, reads and writes that failed.
	Overflow uint64 `json:"overflow"`
	Errors   uint64 `json:"errors"`
	// MeanDelayMs is the mean time a datagram was held.
	MeanDelayMs float64 `json:"meanDelayMs"`
}

// heldDatagram is one datagram waiting in the relay.
type heldDatagram struct {
	b        []byte
	from, to netip.AddrPort
	came, at time.Time
}

// delayRelay holds the UDP datagrams coming into a host. New sets it up;
// run relays until its context ends and then closes every socket.
type delayRelay struct {
	host  *netns.Host
	clock delayClock
	in    *net.UDPConn
	queue chan heldDatagram

	// outs are the sockets that speak for the datagrams' sources; only
	// the sender uses them.
	outs map[netip.AddrPort]*net.UDPConn

	relayed, overflow, errs atomic.Uint64
	heldNs                  atomic.Int64
}

// newDelayRelay opens the relay's socket in h and installs the rules that
// send it h's incoming UDP. The seed makes the jitter reproducible.
func newDelayRelay(ctx context.Context, h *netns.Host, delay, jitter time.Duration, seed uint64) (*delayRelay, error) {
	pc, err := h.ListenPacketConfig(transparent(true), "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("browserbench: delay relay: %w", err)
	}
	in := pc.(*net.UDPConn)
	_ = in.SetReadBuffer(4 << 20)
	port := uint16(in.LocalAddr().(*net.UDPAddr).Port)
	for _, c := range tproxyCommands(port) {
		if err := inHost(ctx, h, c...); err != nil {
			_ = in.Close()
			return nil, err
		}
	}
	return &delayRelay{
		host:  h,
		clock: delayClock{delay: delay, jitter: jitter, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))},
		in:    in,
		queue: make(chan heldDatagram, relayQueue),
		outs:  map[netip.AddrPort]*net.UDPConn{},
	}, nil
}

// run relays until ctx ends, then closes the relay's sockets.
func (r *delayRelay) run(ctx context.Context) {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { _ = r.in.Close() })
	defer stop()
	wg.Go(r.read)
	wg.Go(func() { r.send(ctx) })
	wg.Wait()
	for _, o := range r.outs {
		_ = o.Close()
	}
}

// read takes the datagrams off the transparent socket and queues them
// with their departure times; it ends when the socket is closed, and
// closes the queue.
func (r *delayRelay) read() {
	defer close(r.queue)
	buf := make([]byte, 64<<10)
	oob := make([]byte, 256)
	for {
		n, oobn, _, from, err := r.in.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.errs.Add(1)
			continue
		}
		to, ok := origDst(oob[:oobn])
		if !ok {
			r.errs.Add(1)
			continue
		}
		now := time.Now()
		d := heldDatagram{b: append([]byte(nil), buf[:n]...), from: from, to: to, came: now, at: r.clock.release(now)}
		select {
		case r.queue <- d:
		default:
			r.overflow.Add(1)
		}
	}
}

// send lets each datagram go at its time, from a socket bound to its
// original source.
func (r *delayRelay) send(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for d := range r.queue {
		if wait := time.Until(d.at); wait > 0 && ctx.Err() == nil {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			continue // drain: the reader is closing the queue
		}
		out, err := r.out(d.from)
		if err != nil {
			r.errs.Add(1)
			continue
		}
		if _, err := out.WriteToUDPAddrPort(d.b, d.to); err != nil {
			r.errs.Add(1)
			continue
		}
		r.relayed.Add(1)
		r.heldNs.Add(int64(time.Since(d.came)))
	}
}

// out is the socket that speaks for src inside the host.
func (r *delayRelay) out(src netip.AddrPort) (*net.UDPConn, error) {
	if o := r.outs[src]; o != nil {
		return o, nil
	}
	pc, err := r.host.ListenPacketConfig(transparent(false), src.String())
	if err != nil {
		return nil, err
	}
	o := pc.(*net.UDPConn)
	r.outs[src] = o
	return o, nil
}

// stats is what the relay did so far.
func (r *delayRelay) stats() RelayStats {
	s := RelayStats{Relayed: r.relayed.Load(), Overflow: r.overflow.Load(), Errors: r.errs.Load()}
	if s.Relayed > 0 {
		s.MeanDelayMs = float64(r.heldNs.Load()) / float64(s.Relayed) / 1e6
	}
	return s
}

// needIptables says why loss or delay cannot be had here.
func needIptables() error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return fmt.Errorf("%w: iptables (Debian's iptables package; .ci/deps installs it) drops and redirects the subscriber's packets: %w", ErrUnavailable, err)
	}
	return nil
}
