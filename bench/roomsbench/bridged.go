package roomsbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/spacecast/spacecast/bench/loopbridge"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/internal/netns"
)

// ErrBridgePort means a port the loopback bridge is to forward has no
// listener on this machine.
var ErrBridgePort = errors.New("roomsbench: a forwarded port refuses connections")

// bridgedTarget is a deployment on this machine's loopback (`spacecast
// dev`) reached by agents in network namespaces through a loopback
// bridge: inside each namespace, its 127.0.0.1 ports lead to the root
// namespace's.
type bridgedTarget struct {
	net    *netns.Network
	hosts  []*netns.Host
	bridge *loopbridge.Bridge
	ports  string // as printed
	pid    int    // the server process

	cancel context.CancelFunc
	done   chan error
}

// startBridged checks that every forwarded port answers, finds the server
// process, makes the agents' namespaces and starts the bridge into them.
func startBridged(ctx context.Context, c Config, api netip.AddrPort, log *slog.Logger) (*bridgedTarget, error) {
	if err := netns.Available(); err != nil {
		return nil, fmt.Errorf("roomsbench: --target %s is on this machine's loopback: the participants run in network namespaces (the LiveKit SDK never uses loopback addresses) with a bridge to this loopback, and making namespaces needs root (run with sudo): %w", c.Target, err)
	}
	ports, err := c.bridgePorts(api.Port())
	if err != nil {
		return nil, fmt.Errorf("roomsbench: --loopback-ports: %w", err)
	}
	// KeepSource: the edge sees the participants' own host candidates (a
	// translated source would be peer-reflexive, which the edge, the
	// controlling ICE agent of the subscriber connection, nominates only
	// after pion's 1 s wait: it would add a second to every join).
	cfg := loopbridge.Config{Addr: api.Addr(), Ports: ports, KeepSource: true}
	if err := loopbridge.Probe(ctx, cfg); err != nil {
		return nil, fmt.Errorf("%w: %w\n(is the deployment running? the bridge forwards the API's port and --loopback-ports, default %s: spacecast dev's edge signalling, edge ICE UDP, TURN UDP, TCP and TLS ports; give the ports yours listens on, or --dev DIR to read them from its data folder)", ErrBridgePort, err, DefaultLoopbackPorts)
	}
	pid := c.ServerPID
	if pid == 0 {
		if pid, err = listenerPID(api.Port()); err != nil {
			return nil, fmt.Errorf("%w (give --server-pid)", err)
		}
	}
	br, err := loopbridge.New(cfg, log)
	if err != nil {
		return nil, err
	}
	n, hosts, err := startAgentNetwork(ctx, c.Agents)
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	for _, h := range hosts {
		err := n.Mirror(ctx, h)
		if err == nil {
			err = br.Add(h.Name, h)
		}
		if err != nil {
			_ = br.Close()
			_ = n.Close()
			return nil, err
		}
	}
	names := make([]string, len(ports))
	for i, p := range ports {
		names[i] = p.String()
	}
	rctx, cancel := context.WithCancel(context.Background())
	t := &bridgedTarget{net: n, hosts: hosts, bridge: br, ports: strings.Join(names, ","), pid: pid, cancel: cancel, done: make(chan error, 1)}
	go func() { t.done <- br.Run(rctx) }() // owned: close waits for it
	return t, nil
}

// close stops the bridge, waits for it and deletes the namespaces.
func (t *bridgedTarget) close() {
	t.cancel()
	<-t.done
	_ = t.net.Close()
}

// fill adds the bridge's counters to r.
func (t *bridgedTarget) fill(r *result.Result) {
	s := t.bridge.Stats()
	r.Add("bridge_udp_packets", result.UnitCount, float64(s.UDPPacketsIn+s.UDPPacketsOut), "UDP packets the loopback bridge relayed (both ways; one extra userspace hop each, in the bench process)")
	r.Add("bridge_udp_flows", result.UnitCount, float64(s.UDPFlows), "UDP flows through the loopback bridge (one per participant socket)")
	r.Add("bridge_tcp_conns", result.UnitCount, float64(s.TCPConns), "TCP connections through the loopback bridge")
	r.Add("bridge_dropped", result.UnitCount, float64(s.Dropped), "UDP packets the loopback bridge dropped (a cut agent, a full flow table)")
	if s.Translated > 0 {
		r.Warn("loopback bridge: %d UDP flows could not keep their source address: the server saw them as peer-reflexive candidates (pion waits 1 s before nominating those)", s.Translated)
	}
	if s.Errors > 0 {
		r.Warn("loopback bridge: %d errors (failed connections to the server, socket errors)", s.Errors)
	}
}
