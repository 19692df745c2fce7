package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spacecast/spacecast/gossip"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// gossipEnabled reports whether a `gossip:` section asks to join a
// cluster: it names the node or gives seeds. Without it the process runs
// alone (one edge, or a control plane with a static edge).
func gossipEnabled(g gossip.Config) bool { return g.NodeID != "" || len(g.Seeds) > 0 }

// checkProduction refuses what a process outside `spacecast dev` must not
// start with: deploy/'s placeholder secrets, gossip without encryption and
// a gossip member whose advertised URLs nobody checks.
func checkProduction(cl clusterkey.Config, g gossip.Config) error {
	on := gossipEnabled(g)
	err := cl.CheckProduction(on)
	if on && len(g.URLAllowlist) == 0 {
		err = errors.Join(err, fmt.Errorf("%w: gossip.urlAllowlist is required: the hosts edges may advertise in signalling and TURN URLs", clusterkey.ErrUnsafe))
	}
	return err
}

// startGossip binds the gossip port (and, with a wan section, the WAN
// pool's) and builds the node (it does not run it). The keyring comes from
// the cluster section (SPACECAST_GOSSIP_KEYS).
func startGossip(g gossip.Config, cl clusterkey.Config, log *slog.Logger) (*gossip.Node, error) {
	keys, err := cl.GossipKeyring()
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		log.Warn("gossip is not encrypted: set cluster.gossipKeys or SPACECAST_GOSSIP_KEYS", "component", "gossip")
	}
	pc, ln, err := gossip.Listen(g.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip: listen %s: %w", g.BindAddr, err)
	}
	deps := gossip.Deps{Logger: log, PacketConn: pc, Listener: ln, Keyring: keys}
	closeAll := func() {
		for _, c := range []io.Closer{deps.PacketConn, deps.Listener, deps.WANPacketConn, deps.WANListener} {
			if c != nil {
				_ = c.Close()
			}
		}
	}
	if g.WAN.Enabled() {
		if deps.WANPacketConn, deps.WANListener, err = gossip.Listen(g.WAN.BindAddr); err != nil {
			closeAll()
			return nil, fmt.Errorf("gossip: listen wan.bindAddr %s: %w", g.WAN.BindAddr, err)
		}
	}
	node, err := gossip.New(g, deps)
	if err != nil {
		closeAll()
		return nil, err
	}
	return node, nil
}

// onHangup calls reload for every SIGHUP until ctx ends; wait blocks until
// the goroutine is gone.
func onHangup(ctx context.Context, reload func()) (wait func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload()
			}
		}
	}()
	return func() { <-done }
}

// reloadGossipKeys gives node the gossip keys of a re-read cluster section:
// rotation without a restart.
func reloadGossipKeys(node *gossip.Node, cl clusterkey.Config, log *slog.Logger) {
	keys, err := cl.GossipKeyring()
	if err == nil {
		err = node.SetKeys(keys)
	}
	if err != nil {
		log.Error("reload gossip keys", "component", "gossip", "error", err)
		return
	}
	log.Info("gossip keys reloaded", "component", "gossip")
}
