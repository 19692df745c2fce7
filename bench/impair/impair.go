package impair

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/spacecast/spacecast/internal/netns"
)

// ErrUnavailable means this machine cannot impair links (no iptables).
var ErrUnavailable = errors.New("impair: unavailable")

// tproxyMark and tproxyTable route a TPROXY-marked datagram to the local
// stack (ip-rule(8)): the namespace is new, so nothing else uses them.
const (
	tproxyMark  = "0x1"
	tproxyTable = "100"
	// relayQueue bounds the datagrams a class of the relay holds at once
	// (a second of 2 Mbit/s video is ~200); beyond it they are dropped and
	// counted.
	relayQueue = 8192
	// lossComment names the loss rules (with a tag after a colon).
	lossComment = "bench-loss"
)

// Available says why loss or delay cannot be had here.
func Available() error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return fmt.Errorf("%w: iptables (Debian's iptables package; .ci/deps installs it) drops and redirects the datagrams: %w", ErrUnavailable, err)
	}
	return nil
}

// sourceArgs limits a rule to datagrams from sources (none: from anyone).
func sourceArgs(sources []netip.Addr) []string {
	if len(sources) == 0 {
		return nil
	}
	s := make([]string, len(sources))
	for i, a := range sources {
		s[i] = a.String()
	}
	return []string{"-s", strings.Join(s, ",")}
}

// lossArgs is the iptables(8) command line that drops a share p of the
// UDP datagrams coming in through eth0 from sources; tag names the rule
// for LossDrops.
func lossArgs(p float64, sources []netip.Addr, tag string) []string {
	args := []string{"-w", "-t", "raw", "-A", "PREROUTING", "-i", "eth0", "-p", "udp"}
	args = append(args, sourceArgs(sources)...)
	return append(args, "-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(p, 'f', -1, 64),
		"-m", "comment", "--comment", lossComment+":"+tag, "-j", "DROP")
}

// tproxySetup are the commands (to run inside the namespace) that route a
// TPROXY-marked datagram to the local stack, once per namespace.
func tproxySetup() [][]string {
	return [][]string{
		{"ip", "rule", "add", "fwmark", tproxyMark + "/" + tproxyMark, "lookup", tproxyTable},
		{"ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", tproxyTable},
	}
}

// tproxyRule hands every UDP datagram coming in through eth0 from sources
// to a transparent socket on 127.0.0.1:port.
func tproxyRule(port uint16, sources []netip.Addr) []string {
	args := []string{"iptables", "-w", "-t", "mangle", "-A", "PREROUTING", "-i", "eth0", "-p", "udp"}
	args = append(args, sourceArgs(sources)...)
	return append(args, "-j", "TPROXY", "--on-ip", "127.0.0.1", "--on-port", strconv.Itoa(int(port)),
		"--tproxy-mark", tproxyMark+"/"+tproxyMark)
}

// inHost runs one command inside the host's namespace.
func inHost(ctx context.Context, h *netns.Host, args ...string) error {
	out, err := h.Command(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("impair: in %s: %s: %w: %s", h.Name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// AddLoss makes the host drop a share p (0 to 1) of the UDP datagrams
// that come in from sources (none: from anyone). tag names the rule for
// LossDrops.
func AddLoss(ctx context.Context, h *netns.Host, p float64, sources []netip.Addr, tag string) error {
	if p <= 0 || p >= 1 {
		return fmt.Errorf("impair: loss %v: want a share between 0 and 1", p)
	}
	if strings.ContainsAny(tag, " */") {
		return fmt.Errorf("impair: loss tag %q: no spaces, stars or slashes", tag)
	}
	return inHost(ctx, h, append([]string{"iptables"}, lossArgs(p, sources, tag)...)...)
}

// ruleCount matches a loss rule's line of `iptables -nvxL`: its packet
// count first, and the comment that names it.
var ruleCount = regexp.MustCompile(`^\s*(\d+)\s+\d+\s+DROP\b.*/\* ` + lossComment + `:(\S*) \*/`)

// parseLossDrops reads the loss rules' packet counts, by tag, from
// `iptables -t raw -nvxL PREROUTING`.
func parseLossDrops(out string) map[string]uint64 {
	m := map[string]uint64{}
	for _, l := range strings.Split(out, "\n") {
		if g := ruleCount.FindStringSubmatch(l); g != nil {
			if n, err := strconv.ParseUint(g[1], 10, 64); err == nil {
				m[g[2]] += n
			}
		}
	}
	return m
}

// LossDrops is how many datagrams the host's loss rules dropped, by tag.
func LossDrops(ctx context.Context, h *netns.Host) (map[string]uint64, error) {
	out, err := h.Command(ctx, "iptables", "-w", "-t", "raw", "-nvxL", "PREROUTING").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("impair: iptables -nvxL in %s: %w: %s", h.Name, err, strings.TrimSpace(string(out)))
	}
	return parseLossDrops(string(out)), nil
}
