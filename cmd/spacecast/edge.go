package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/internal/cluster"
	"github.com/spacecast/spacecast/internal/config"
)

// edgeFile is the config file of `spacecast edge`.
type edgeFile struct {
	Log     edgeLogSection `yaml:"log"`
	Cluster cluster.Config `yaml:"cluster"`
	Edge    edge.Config    `yaml:"edge"`
}

// edgeLogSection is the `log:` section.
type edgeLogSection struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

func (l edgeLogSection) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, fmt.Errorf("log.level %q: %w", l.Level, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(l.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format %q: want text or json", l.Format)
}

// runEdge runs a media edge from a config file: it binds the signalling
// listener and the single ICE UDP port (and the optional ICE-TCP port)
// before serving.
func runEdge(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "edge")
	path := fs.String("config", "", "config file (sections log, cluster, edge)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(e.stderr, "spacecast edge: --config FILE is required")
		return errUsage
	}
	cfg := edgeFile{Log: edgeLogSection{Level: "info", Format: "text"}, Edge: edge.DefaultConfig()}
	if err := config.Load(*path, &cfg); err != nil {
		return err
	}
	if err := cfg.Cluster.ApplyEnv(e.getenv); err != nil {
		return err
	}
	log, err := cfg.Log.logger(e.stderr)
	if err != nil {
		return err
	}
	if err := cfg.Edge.Validate(); err != nil {
		return err
	}
	sig, err := net.Listen("tcp", cfg.Edge.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Edge.Listen, err)
	}
	udp, err := net.ListenPacket("udp", net.JoinHostPort(cfg.Edge.RTC.BindIP, strconv.Itoa(cfg.Edge.RTC.UDPPort)))
	if err != nil {
		_ = sig.Close()
		return fmt.Errorf("rtc udp port: %w", err)
	}
	var tcp net.Listener
	if cfg.Edge.RTC.TCPPort > 0 {
		if tcp, err = net.Listen("tcp", net.JoinHostPort(cfg.Edge.RTC.BindIP, strconv.Itoa(cfg.Edge.RTC.TCPPort))); err != nil {
			_ = sig.Close()
			_ = udp.Close()
			return fmt.Errorf("rtc tcp port: %w", err)
		}
	}
	ed, err := edge.New(cfg.Edge, edge.Deps{
		Logger: log, Cluster: cfg.Cluster, Registerer: prometheus.DefaultRegisterer,
		UDP: udp, TCP: tcp, Signal: sig,
	})
	if err != nil {
		_ = sig.Close()
		_ = udp.Close()
		if tcp != nil {
			_ = tcp.Close()
		}
		return err
	}
	return ed.Run(ctx)
}
