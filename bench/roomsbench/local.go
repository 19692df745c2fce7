package roomsbench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spacecast/spacecast/bench/selfhost"
	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/edge/recorder"
	"github.com/spacecast/spacecast/internal/blob"
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
	// dir holds the control plane's store and the edge's recordings;
	// recordDir is the edge's recording folder when it records.
	dir, recordDir string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
}

func startLocal(ctx context.Context, agents int, record bool, log *slog.Logger) (*local, error) {
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
	dir, err := os.MkdirTemp("", "spacecast-bench-rooms-")
	if err != nil {
		_ = sig.Close()
		_ = udp.Close()
		_ = n.Close()
		return nil, err
	}
	l.dir = dir
	deps := edge.Deps{Cluster: cl, UDP: udp, Signal: sig, Logger: log}
	if record {
		// The recordings go to the run's folder; they end with the calls,
		// and the edge composes and stores them as it stops (not measured).
		l.recordDir = filepath.Join(dir, "recording")
		st, err := blob.NewLocal(blob.LocalConfig{Dir: filepath.Join(dir, "storage")}, nil, 0)
		if err != nil {
			_ = sig.Close()
			_ = udp.Close()
			_ = n.Close()
			_ = os.RemoveAll(dir)
			return nil, err
		}
		deps.Recording = &edge.RecordingDeps{Config: recorder.Config{Dir: l.recordDir, ShutdownTimeout: 30 * time.Second}, Store: st}
	}
	e, err := edge.New(ecfg, deps)
	if err != nil {
		_ = sig.Close()
		_ = udp.Close()
		_ = n.Close()
		_ = os.RemoveAll(dir)
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
	ready := make(chan selfhost.Info, 1)
	go func() {
		defer l.wg.Done()
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
	if l.dir != "" {
		_ = os.RemoveAll(l.dir)
	}
	_ = l.net.Close()
}
