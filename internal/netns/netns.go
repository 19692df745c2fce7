package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
)

// ErrUnavailable means this process cannot make namespaces (not root, or no
// ip command).
var ErrUnavailable = errors.New("netns: unavailable")

// errNotLinux: network namespaces are Linux's (errors.ErrUnsupported
// elsewhere, so that tests skip even in CI).
var errNotLinux = fmt.Errorf("%w: network namespaces are Linux-only: %w", ErrUnavailable, errors.ErrUnsupported)

// Available reports whether networks can be made here.
func Available() error {
	if runtime.GOOS != "linux" {
		return errNotLinux
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root", ErrUnavailable)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Network is a bridge with a /24 and the hosts attached to it.
type Network struct {
	id     string
	bridge string
	prefix netip.Prefix
	gw     netip.Addr

	mu     sync.Mutex
	hosts  []*Host
	closed bool
}

// Host is one namespace on a Network.
type Host struct {
	Name string // namespace name, for `ip netns exec`
	addr netip.Addr
	veth string // root-side end of the veth pair
}

// NewNetwork makes a bridge on a free /24 of 198.18.0.0/15.
func NewNetwork(ctx context.Context) (*Network, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 8; attempt++ {
		id, err := randomID()
		if err != nil {
			return nil, err
		}
		b, err := randomBytes(2)
		if err != nil {
			return nil, err
		}
		second := 18 + int(b[0]&1)
		third := 1 + int(b[1])%254
		prefix := netip.MustParsePrefix(fmt.Sprintf("198.%d.%d.0/24", second, third))
		if inUse(ctx, prefix) {
			continue
		}
		n := &Network{
			id:     id,
			bridge: "scbr" + id,
			prefix: prefix,
			gw:     prefix.Addr().Next(),
		}
		if err := n.up(ctx); err != nil {
			_ = n.Close()
			return nil, err
		}
		return n, nil
	}
	return nil, fmt.Errorf("netns: no free /24 in 198.18.0.0/15")
}

func (n *Network) up(ctx context.Context) error {
	return runAll(ctx,
		[]string{"link", "add", n.bridge, "type", "bridge"},
		[]string{"addr", "add", n.gw.String() + "/24", "dev", n.bridge},
		[]string{"link", "set", n.bridge, "up"},
	)
}

// Gateway is the bridge's address in the root namespace: servers of the test
// process listen here to be reachable from the hosts.
func (n *Network) Gateway() netip.Addr { return n.gw }

// Prefix is the network's /24.
func (n *Network) Prefix() netip.Prefix { return n.prefix }

// BridgeName is the bridge interface in the root namespace (for interface
// filters of servers that must gather only here and on loopback).
func (n *Network) BridgeName() string { return n.bridge }

// AddHost makes a namespace attached to the bridge.
func (n *Network) AddHost(ctx context.Context) (*Host, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("netns: network closed")
	}
	idx := len(n.hosts) + 2
	if idx > 254 {
		return nil, fmt.Errorf("netns: network full")
	}
	addr := n.prefix.Addr()
	for i := 0; i < idx; i++ {
		addr = addr.Next()
	}
	id, err := randomID()
	if err != nil {
		return nil, err
	}
	h := &Host{Name: "sc" + id, addr: addr, veth: "scv" + id}
	peer := "scp" + id
	n.hosts = append(n.hosts, h)
	err = runAll(ctx,
		[]string{"netns", "add", h.Name},
		[]string{"link", "add", h.veth, "type", "veth", "peer", "name", peer},
		[]string{"link", "set", peer, "netns", h.Name},
		[]string{"-n", h.Name, "link", "set", peer, "name", "eth0"},
		[]string{"-n", h.Name, "addr", "add", addr.String() + "/24", "dev", "eth0"},
		[]string{"-n", h.Name, "link", "set", "eth0", "up"},
		[]string{"-n", h.Name, "link", "set", "lo", "up"},
		[]string{"link", "set", h.veth, "master", n.bridge},
		[]string{"link", "set", h.veth, "up"},
	)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Addr is the host's address on the network.
func (h *Host) Addr() netip.Addr { return h.addr }

// Command runs a program inside the host's namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Disconnect cuts the host off the network (its link goes down) until
// Reconnect.
func (h *Host) Disconnect(ctx context.Context) error {
	return runAll(ctx, []string{"link", "set", h.veth, "down"})
}

// Reconnect undoes Disconnect.
func (h *Host) Reconnect(ctx context.Context) error {
	return runAll(ctx, []string{"link", "set", h.veth, "up"})
}

// Mirror makes h's address local to the root namespace too (a /32 on the
// bridge), so that a process there can bind it: a relay that speaks for
// the host (package bench/loopbridge) then sends with the host's own
// address, the one the host's programs advertise. From then on the root
// namespace delivers that address to itself and no longer reaches the
// host at it. It goes away with the bridge.
func (n *Network) Mirror(ctx context.Context, h *Host) error {
	return runAll(ctx, []string{"addr", "add", h.addr.String() + "/32", "dev", n.bridge})
}

// Close deletes every host and the bridge. It is safe to call twice.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	ctx := context.Background()
	var errs []error
	for _, h := range n.hosts {
		// Deleting the namespace deletes its veth end, and with it the pair.
		if err := run(ctx, "netns", "del", h.Name); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
		_ = run(ctx, "link", "del", h.veth) // usually gone already
	}
	if err := run(ctx, "link", "del", n.bridge); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func inUse(ctx context.Context, p netip.Prefix) bool {
	out, err := exec.CommandContext(ctx, "ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		return true
	}
	return strings.Contains(string(out), " "+p.Addr().Next().String()+"/")
}

func runAll(ctx context.Context, cmds ...[]string) error {
	for _, args := range cmds {
		if err := run(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

func run(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func randomID() (string, error) {
	b, err := randomBytes(4)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("netns: random: %w", err)
	}
	return b, nil
}
