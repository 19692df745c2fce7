package roomsbench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/spacecast/spacecast/bench/selfhost"
	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/netns"
)

// local is a self-contained deployment on a throwaway network: a control
// plane and an edge listening on the bridge, reachable from the agents'
// namespaces.
type local struct {
	net   *netns.Network
	hosts []*netns.Host
	info  selfhost.Info

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
}

func startLocal(ctx context.Context, agents int, log *slog.Logger) (*local, error) {
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		return nil, err
	}
	l := &local{net: n, errs: make(chan error, 2)}
	for i := 0; i < agents; i++ {
		h, err := n.AddHost(ctx)
		if err != nil {
			_ = n.Close()
			return nil, err
		}
		l.hosts = append(l.hosts, h)
	}
	gw := n.Gateway().String()
	cl, err := clusterkey.Generate()
	if err != nil {
		_ = n.Close()
		return nil, err
	}
	sig, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		_ = n.Close()
		return nil, fmt.Errorf("roomsbench: %w", err)
	}
	udp, err := net.ListenPacket("udp4", net.JoinHostPort(gw, "0"))
	if err != nil {
		_ = sig.Close()
		_ = n.Close()
		return nil, fmt.Errorf("roomsbench: %w", err)
	}
	ecfg := edge.DefaultConfig()
	ecfg.Listen = sig.Addr().String()
	ecfg.PublicURL = "ws://" + sig.Addr().String()
	ecfg.NodeID = "bench-edge"
	ecfg.RTC.Interfaces = []string{n.BridgeName()}
	ecfg.RTC.SubscriberQueue = 512
	e, err := edge.New(ecfg, edge.Deps{Cluster: cl, UDP: udp, Signal: sig, Logger: log})
	if err != nil {
		_ = sig.Close()
		_ = udp.Close()
		_ = n.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		if err := e.Run(runCtx); err != nil {
			l.errs <- fmt.Errorf("edge: %w", err)
		}
	}()
	dir, err := os.MkdirTemp("", "spacecast-bench-rooms-")
	if err != nil {
		l.close()
		return nil, err
	}
	ready := make(chan selfhost.Info, 1)
	go func() {
		defer l.wg.Done()
		defer os.RemoveAll(dir)
		err := selfhost.Serve(runCtx, selfhost.Options{DataDir: dir, Listen: net.JoinHostPort(gw, "0"), EdgeURL: ecfg.PublicURL, Cluster: cl, Logger: log}, func(i selfhost.Info) { ready <- i })
		if err != nil {
			l.errs <- fmt.Errorf("control plane: %w", err)
		}
	}()
	select {
	case l.info = <-ready:
		return l, nil
	case err := <-l.errs:
		l.close()
		return nil, err
	case <-ctx.Done():
		l.close()
		return nil, ctx.Err()
	}
}

func (l *local) close() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	_ = l.net.Close()
}
