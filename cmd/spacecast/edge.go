package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/edge/gossipmember"
	"github.com/spacecast/spacecast/edge/recorder"
	"github.com/spacecast/spacecast/edge/reporter"
	"github.com/spacecast/spacecast/gossip"
	"github.com/spacecast/spacecast/internal/blob"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/config"
	"github.com/spacecast/spacecast/internal/logging"
	"github.com/spacecast/spacecast/internal/tlsconf"
	"github.com/spacecast/spacecast/turn"
)

// edgeFile is the config file of `spacecast edge` (see deploy/edge.yaml).
type edgeFile struct {
	Log     logging.Config    `yaml:"log"`
	Cluster clusterkey.Config `yaml:"cluster"`
	Edge    edge.Config       `yaml:"edge"`
	// Turn is the embedded TURN server (on unless enabled: false).
	Turn edgeTURN `yaml:"turn"`
	// Gossip joins the fleet when it names the node or gives seeds.
	Gossip gossip.Config `yaml:"gossip"`
	// Metrics serves Prometheus metrics (edge, TURN, Go runtime).
	Metrics metricsSection `yaml:"metrics"`
	// Report sends room occupancy to the control plane (report.url), which
	// turns it into call_started/call_finished webhooks.
	Report reporter.Config `yaml:"report"`
	// TLS serves the signalling as wss:// (and TURN over TLS, unless
	// turn.certFile names its own) from these certificates, reloaded when
	// the files change or on SIGHUP. Empty: plain, for `spacecast dev` or
	// behind a proxy that terminates TLS.
	TLS tlsconf.Config `yaml:"tls"`
	// Relay is the edge-to-edge media relay: a room spans the edges its
	// participants are placed on.
	Relay edgeRelay `yaml:"relay"`
	// Recording records rooms when its dir is set (LiveKit's Egress
	// service: the control plane's records/start, a moderator's button,
	// a room that records automatically); Storage is where the
	// recordings go (credentials from the environment). Their states
	// reach the control plane with the reports (report.url).
	Recording recorder.Config `yaml:"recording"`
	Storage   blob.Config     `yaml:"storage"`
}

// edgeRelay is the `relay:` section (edge/relay). It needs gossip: the
// other edges' relay addresses (gossip.Meta.RelayAddr, found by node id)
// and which edges host a room (the room directory) come from there, and
// its certificates from the cluster's gossip keys.
type edgeRelay struct {
	// Listen is the relay's UDP address (QUIC); empty: no relay, a room
	// lives on one edge.
	Listen string `yaml:"listen"`
	// Advertise is the host:port other edges reach this edge's relay at
	// (default: Listen, when it names a host). Its host must be on
	// gossip.urlAllowlist, like the edge's other advertised addresses.
	Advertise string `yaml:"advertise"`
	// IdleClose: a link to an edge that shares no room with this one (in
	// either direction, nothing subscribed or held) for this long closes;
	// it reopens on demand. 0: 30 s.
	IdleClose time.Duration `yaml:"idleClose"`
}

// validate checks the advertised address.
func (r edgeRelay) validate() error {
	if r.IdleClose < 0 {
		return fmt.Errorf("relay.idleClose %v: negative", r.IdleClose)
	}
	if r.Advertise == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(r.Advertise)
	if err == nil {
		var p uint64
		if p, err = strconv.ParseUint(port, 10, 16); err == nil && (p == 0 || host == "") {
			err = errors.New("want host:port with a host and a port")
		}
	}
	if ip, perr := netip.ParseAddr(host); err == nil && perr == nil && ip.IsUnspecified() {
		err = errors.New("an unspecified address cannot be reached")
	}
	if err != nil {
		return fmt.Errorf("relay.advertise %q: %w", r.Advertise, err)
	}
	return nil
}

// on reports whether the edge runs a relay.
func (r edgeRelay) on() bool { return r.Listen != "" }

// check checks what a running relay needs of the rest of the file.
func (r edgeRelay) check(cfg edgeFile) error {
	if err := r.validate(); err != nil || !r.on() {
		return err
	}
	if !gossipEnabled(cfg.Gossip) {
		return errors.New("relay.listen needs a gossip section (the other edges' relay addresses come from gossip)")
	}
	if len(cfg.Cluster.GossipKeys) == 0 {
		return errors.New("relay.listen needs cluster.gossipKeys (the relay's certificates derive from them)")
	}
	if _, err := netip.ParseAddrPort(r.Listen); err != nil {
		return fmt.Errorf("relay.listen %q: %w", r.Listen, err)
	}
	if r.advertise() == "" {
		return errors.New("relay.advertise is required when relay.listen binds every address")
	}
	return nil
}

// advertise is the address other edges dial.
func (r edgeRelay) advertise() string {
	if r.Advertise != "" {
		return r.Advertise
	}
	if ap, err := netip.ParseAddrPort(r.Listen); err == nil && !ap.Addr().IsUnspecified() {
		return r.Listen
	}
	return ""
}

// edgeTURN is the `turn:` section of an edge: turn.Config plus a switch.
type edgeTURN struct {
	Enabled     *bool `yaml:"enabled"` // nil: on
	turn.Config `yaml:",inline"`
}

func (t edgeTURN) on() bool { return t.Enabled == nil || *t.Enabled }

func loadEdgeFile(path string, getenv func(string) string) (edgeFile, error) {
	cfg := edgeFile{Log: logging.Default(), Edge: edge.DefaultConfig(), Gossip: gossip.Default()}
	if err := config.Load(path, &cfg); err != nil {
		return cfg, err
	}
	if err := cfg.Cluster.ApplyEnv(getenv); err != nil {
		return cfg, err
	}
	// The gossip identity follows the edge's unless the section says.
	cfg.Gossip.Role = gossip.RoleEdge
	if cfg.Gossip.NodeID == "" && len(cfg.Gossip.Seeds) > 0 {
		cfg.Gossip.NodeID = cfg.Edge.NodeID
	}
	if cfg.Gossip.Region == "" {
		cfg.Gossip.Region = cfg.Edge.Region
	}
	return cfg, nil
}

// runEdge runs a media edge from a config file: signalling, the ICE
// port(s), the embedded TURN server and, with a gossip section, fleet
// membership. The first SIGTERM/SIGINT drains it: it advertises draining,
// refuses new participants (503: the SDKs go back to the control plane)
// and exits when the last participant leaves or edge.drainTimeout passes;
// a second signal exits at once. SIGHUP reloads the gossip keys and TURN
// secrets.
func runEdge(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "edge")
	path := fs.String("config", "", "config file (sections log, cluster, edge, turn, gossip)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(e.stderr, "spacecast edge: --config FILE is required")
		return errUsage
	}
	cfg, err := loadEdgeFile(*path, e.getenv)
	if err != nil {
		return err
	}
	log, err := cfg.Log.New(e.stderr)
	if err != nil {
		return err
	}
	if err := cfg.Edge.Validate(); err != nil {
		return err
	}
	if err := cfg.Cluster.Validate(); err != nil {
		return err
	}
	if err := cfg.Relay.validate(); err != nil {
		return err
	}
	if err := checkProduction(cfg.Cluster, cfg.Gossip); err != nil {
		return err
	}
	tlsSrc, err := loadEdgeTLS(cfg, log)
	if err != nil {
		return err
	}
	var turnCfg turn.Config
	if cfg.Turn.on() {
		turnCfg = cfg.Turn.Config.WithDefaults()
		if tlsSrc != nil && turnCfg.CertFile == "" {
			turnCfg.TLS = tlsSrc.TLSConfig()
		}
		if turnCfg.PublicHost == "" {
			turnCfg.PublicHost = publicHost(cfg.Edge.PublicURL)
		}
		if err := turnCfg.Validate(); err != nil {
			return err
		}
		if len(cfg.Edge.TURNURLs) == 0 {
			cfg.Edge.TURNURLs = turn.URLs(turnCfg, turnCfg.PublicHost)
		}
	}
	if gossipEnabled(cfg.Gossip) {
		if err := cfg.Gossip.Validate(); err != nil {
			return err
		}
	}
	if err := cfg.Relay.check(cfg); err != nil {
		return err
	}

	s, err := listenEdge(ctx, cfg, turnCfg, tlsSrc)
	if err != nil {
		return err
	}
	defer s.close()
	if cfg.Metrics.Region == "" {
		cfg.Metrics.Region = cfg.Edge.Region
	}
	if cfg.Metrics.Node == "" {
		cfg.Metrics.Node = cfg.Edge.NodeID
	}
	gather, reg := newRegistry(cfg.Metrics)
	// The addresses and ports clients reach this edge's media at.
	media := mediaEndpoints(cfg.Edge, s.udp, s.tcp)
	var ts *turn.Server
	if cfg.Turn.on() {
		if turnCfg.TLSListen != turn.TLSOff && turnCfg.CertFile == "" && turnCfg.TLS == nil {
			log.Warn("no certFile/keyFile: TURN over TLS uses a self-signed certificate (development only)", "component", "turn")
		}
		var nodeIPs []netip.Addr
		for _, a := range cfg.Edge.RTC.NodeIPs {
			if ip, err := netip.ParseAddr(a); err == nil {
				nodeIPs = append(nodeIPs, ip)
			}
		}
		if ts, err = turn.New(turnCfg, cfg.Cluster.TURNSecrets, s.turn, turn.WithLogger(log), turn.WithRegisterer(reg),
			turn.WithOwnAddrs(nodeIPs...)); err != nil {
			return err
		}
		s.turn = turn.Sockets{}
		// The relay reaches this edge's media ports, and only those, on
		// the host's own addresses; with gossip, every edge's (below).
		ts.SetPeers(media)
	}
	deps := edge.Deps{Logger: log, Cluster: cfg.Cluster, Registerer: reg, UDP: s.udp, TCP: s.tcp, Signal: s.sig}
	var node *gossip.Node
	var member *gossipmember.Member
	var ed *edge.Edge // set below, before anything runs
	var reportClient *reporter.Client
	if gossipEnabled(cfg.Gossip) {
		if node, err = startGossip(cfg.Gossip, cfg.Cluster, log); err != nil {
			return err
		}
		defer node.Close() // after Run returned; closes the sockets if it never ran
		if err := reg.Register(node.Collector()); err != nil {
			return fmt.Errorf("gossip metrics: %w", err)
		}
		evict := func(room, identity string, before time.Time) int { return ed.Evict(room, identity, before) }
		if member, err = gossipmember.New(gossipmember.Deps{Node: node, Logger: log, Evict: evict, BytesOut: func() uint64 { return ed.MediaBytesOut() },
			RemovalTTL: cfg.Edge.Room.RemovalTTL}); err != nil {
			return err
		}
		deps.Observer, deps.Revoked, deps.Revoke = member, member.Revoked, member.Revoke
		deps.Checks = append(deps.Checks, edge.Check{Name: "gossip", Err: func() error { return fleetJoined(node, cfg.Gossip) }})
		if err := node.UpdateMeta(edgeMeta(cfg, media)); err != nil {
			return fmt.Errorf("gossip metadata: %w (shorten edge.publicURL or edge.turnURLs, or name the media addresses with edge.rtc.nodeIPs)", err)
		}
		if cfg.Relay.on() {
			if deps.Relay, err = relayDeps(cfg, node, s); err != nil {
				return err
			}
		}
		if ts != nil {
			// A client relayed by this edge's TURN server may reach any
			// edge of the fleet, in any region, at its media addresses.
			stopPeers := gossipmember.WatchMediaPeers(node, media, ts.SetPeers)
			defer stopPeers()
			// A removal stops the removed participant's TURN credentials
			// and closes its relays.
			unsub := node.Subscribe(func(ev gossip.Event) {
				r := ev.Revocation
				if ev.Kind != gossip.EventRevoke || (r.Kind != gossip.RevokeParticipant && r.Kind != gossip.RevokeUser) {
					return
				}
				before := r.IssuedBefore
				if before.IsZero() {
					before = r.Until
				}
				ts.Revoke(r.Subject, before, r.Until)
			})
			defer unsub()
		}
	}
	var rep *reporter.Reporter
	if bases := reportURLs(cfg.Report); len(bases) > 0 {
		client, err := reporter.NewClient(bases[0], cfg.Cluster, bases[1:]...)
		if err != nil {
			return err
		}
		defer client.Close()
		reportClient = client
		cfg.Report.Node = cfg.Edge.NodeID
		// Last in the observer chain: it hears the final departures of a
		// drain before its closing snapshot.
		if rep, err = reporter.New(cfg.Report, reporter.Deps{Sink: client, Logger: log, Registerer: reg, Next: deps.Observer}); err != nil {
			return err
		}
		deps.Observer = rep
	}
	if cfg.Recording.Dir != "" {
		if !storageConfigured(cfg.Storage) {
			return errors.New("recording.dir needs a storage section (where the recordings are stored)")
		}
		rs, _, err := openStorage(ctx, cfg.Storage, "", e.getenv)
		if err != nil {
			return err
		}
		deps.Recording = &edge.RecordingDeps{Config: cfg.Recording, Store: rs}
		if rep != nil {
			deps.Recording.Report = rep.RecordChanged
		} else {
			log.Warn("recording without report.url: the control plane will not hear of the recordings")
		}
	}
	if ed, err = edge.New(cfg.Edge, deps); err != nil {
		return err
	}
	s.udp, s.tcp, s.sig, s.relay = nil, nil, nil, nil // owned by the edge now

	// run is cancelled when the drain ends; ctx (the first signal) starts it.
	run, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	g, gctx := errgroup.WithContext(run)
	// The reporter stops after the edge: the states of the recordings the
	// stopping edge composes and stores still reach the control plane.
	repCtx, stopRep := context.WithCancel(context.WithoutCancel(gctx))
	defer stopRep()
	g.Go(func() error { defer stopRep(); return ed.Run(gctx) })
	if ts != nil {
		g.Go(func() error { return ts.Run(gctx) })
	}
	if node != nil {
		g.Go(func() error { return node.Run(gctx) })
		g.Go(func() error { return member.Run(gctx) })
	}
	if rep != nil {
		g.Go(func() error { return rep.Run(repCtx) })
	}
	if tlsSrc != nil {
		g.Go(func() error { tlsSrc.Run(gctx); return nil })
	}
	if s.metrics != nil {
		ml := s.metrics
		s.metrics = nil
		log.Info("metrics listening", "addr", ml.Addr().String())
		g.Go(func() error { return metricsServer(gctx, cfg.Metrics, ml, gather, log) })
	}
	g.Go(func() error {
		select {
		case <-gctx.Done():
			return nil
		case <-ctx.Done():
		}
		drainEdge(gctx, ed, member, cfg.Edge, log)
		stop()
		return nil
	})
	waitHUP := onHangup(gctx, func() {
		reloaded, err := loadEdgeFile(*path, e.getenv)
		if err != nil {
			log.Error("reload config", "error", err)
			return
		}
		if node != nil {
			reloadGossipKeys(node, reloaded.Cluster, log)
		}
		if reportClient != nil {
			if err := reportClient.SetCluster(reloaded.Cluster); err != nil {
				log.Error("reload cluster keys for reports", "error", err)
			}
		}
		if tlsSrc != nil {
			if err := tlsSrc.Reload(gctx); err != nil {
				log.Error("reload tls certificate; the previous one stays", "error", err)
			}
		}
		if ts != nil && len(reloaded.Cluster.TURNSecrets) > 0 {
			ts.SetSecrets(reloaded.Cluster.TURNSecrets)
			log.Info("TURN secrets reloaded", "component", "turn", "count", len(reloaded.Cluster.TURNSecrets))
		}
	})
	err = g.Wait()
	stop()
	waitHUP()
	if ts != nil {
		_ = ts.Close()
	}
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, gossip.ErrClosed) {
		return err
	}
	log.Info("edge stopped")
	return nil
}

// drainEdge advertises draining, refuses new participants and waits until
// the edge is empty or the drain timeout passes (or ctx ends).
func drainEdge(ctx context.Context, ed *edge.Edge, member *gossipmember.Member, cfg edge.Config, log *slog.Logger) {
	ed.Drain()
	if member != nil {
		member.SetDraining(true)
	}
	left := ed.Participants()
	log.Info("draining: waiting for participants to leave (a second signal exits now)",
		"participants", left, "timeout", cfg.DrainTimeout)
	dctx, cancel := context.WithTimeout(ctx, cfg.DrainTimeout)
	defer cancel()
	if ed.WaitEmpty(dctx, 250*time.Millisecond) {
		log.Info("drained: no participant left")
		return
	}
	log.Warn("drain timeout: disconnecting the participants still here", "participants", ed.Participants())
}

// mediaEndpoints are the addresses and ports clients reach this edge's
// media at (its ICE host candidates): the node IPs, else the bound
// address, else every interface address, with the UDP and TCP ports.
func mediaEndpoints(cfg edge.Config, udp net.PacketConn, tcp net.Listener) []netip.AddrPort {
	var ips []netip.Addr
	for _, a := range cfg.RTC.NodeIPs {
		if ip, err := netip.ParseAddr(a); err == nil {
			ips = append(ips, ip)
		}
	}
	if ip, err := netip.ParseAddr(cfg.RTC.BindIP); err == nil && !ip.IsUnspecified() {
		ips = append(ips, ip)
	}
	if len(ips) == 0 {
		if as, err := net.InterfaceAddrs(); err == nil {
			for _, a := range as {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					ips = append(ips, p.Addr())
				}
			}
		}
	}
	var ports []uint16
	if a, ok := udp.LocalAddr().(*net.UDPAddr); ok {
		ports = append(ports, uint16(a.Port)) //nolint:gosec // a port
	}
	if tcp != nil {
		if a, ok := tcp.Addr().(*net.TCPAddr); ok {
			ports = append(ports, uint16(a.Port)) //nolint:gosec // a port
		}
	}
	var out []netip.AddrPort
	for _, ip := range ips {
		for _, p := range ports {
			out = append(out, netip.AddrPortFrom(ip.Unmap(), p))
		}
	}
	return out
}

// edgeMeta is what the edge tells the fleet about itself; media are its
// media endpoints, of which it advertises those other hosts can reach.
func edgeMeta(cfg edgeFile, media []netip.AddrPort) gossip.Meta {
	return gossip.Meta{
		SignalURL: cfg.Edge.PublicURL, TURNURLs: cfg.Edge.TURNURLs,
		MediaAddrs: gossipmember.PeerMedia(media), RelayAddr: cfg.Relay.advertise(),
		ProbeURL: probeURL(cfg.Edge.PublicURL), MaxParticipants: cfg.Edge.Capacity, Version: version,
	}
}

// relayDeps connects the edge's relay to gossip: the other edges' relay
// addresses from their node metadata, a room's other hosts from the room
// directory, the certificates from the gossip keyring.
func relayDeps(cfg edgeFile, node *gossip.Node, s *edgeSockets) (*edge.RelayDeps, error) {
	keys, err := cfg.Cluster.GossipKeyring()
	if err != nil {
		return nil, err
	}
	self := node.ID()
	return &edge.RelayDeps{
		PacketConn: s.relay, Keys: keys, LinkIdle: cfg.Relay.IdleClose,
		Resolve: node.RelayAddr, // any region's edge, by node id
		Hosts: func(room string) []string {
			var out []string
			for _, h := range node.Hosts(room) {
				if h.NodeID != self {
					out = append(out, h.NodeID)
				}
			}
			return out
		},
		Region: func(id string) string {
			m, ok := node.Member(id)
			if !ok || m.MetaErr != nil {
				return ""
			}
			return m.Meta.Region
		},
	}, nil
}

// probeURL is the edge's RTT probe (GET /probe) as a browser fetches it.
func probeURL(signal string) string {
	u, err := url.Parse(signal)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/probe"
	return u.String()
}

// publicHost is the host clients reach the edge at.
func publicHost(signal string) string {
	u, err := url.Parse(signal)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// edgeSockets are an edge's listeners, bound before anything serves.
type edgeSockets struct {
	sig, tcp   net.Listener
	metrics    net.Listener
	udp, relay net.PacketConn
	turn       turn.Sockets
}

func listenEdge(ctx context.Context, cfg edgeFile, turnCfg turn.Config, tlsSrc *tlsconf.Source) (*edgeSockets, error) {
	s := &edgeSockets{}
	var err error
	if s.sig, err = net.Listen("tcp", cfg.Edge.Listen); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Edge.Listen, err)
	}
	if tlsSrc != nil {
		s.sig = tls.NewListener(s.sig, tlsSrc.TLSConfig("http/1.1"))
	}
	if s.udp, err = net.ListenPacket("udp", net.JoinHostPort(cfg.Edge.RTC.BindIP, strconv.Itoa(cfg.Edge.RTC.UDPPort))); err != nil {
		s.close()
		return nil, fmt.Errorf("rtc udp port: %w", err)
	}
	if cfg.Edge.RTC.TCPPort > 0 {
		if s.tcp, err = net.Listen("tcp", net.JoinHostPort(cfg.Edge.RTC.BindIP, strconv.Itoa(cfg.Edge.RTC.TCPPort))); err != nil {
			s.close()
			return nil, fmt.Errorf("rtc tcp port: %w", err)
		}
	}
	if cfg.Relay.on() {
		if s.relay, err = net.ListenPacket("udp", cfg.Relay.Listen); err != nil {
			s.close()
			return nil, fmt.Errorf("relay udp port: %w", err)
		}
	}
	if s.metrics, err = cfg.Metrics.listen(); err != nil {
		s.close()
		return nil, err
	}
	if cfg.Turn.on() {
		if s.turn, err = turn.Listen(ctx, turnCfg); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// errNoFleet: gossip has seeds but no other member is alive.
var errNoFleet = errors.New("no other fleet member reachable through the gossip seeds")

// fleetJoined is the edge's gossip readiness: with seeds, at least one
// other member alive (an edge alone cannot be placed on, nor hear
// revocations).
func fleetJoined(node *gossip.Node, cfg gossip.Config) error {
	if len(cfg.Seeds) == 0 || len(node.Nodes()) > 1 {
		return nil
	}
	return errNoFleet
}

// loadEdgeTLS loads the `tls:` section's certificate (nil when the
// section is empty). The public URL must then be wss://: a page served over
// HTTPS cannot open ws://.
func loadEdgeTLS(cfg edgeFile, log *slog.Logger) (*tlsconf.Source, error) {
	if !cfg.TLS.Enabled() {
		return nil, nil
	}
	if u, err := url.Parse(cfg.Edge.PublicURL); err == nil && (u.Scheme == "ws" || u.Scheme == "http") {
		return nil, fmt.Errorf("edge.publicURL %q is %s:// but tls is on: give the wss:// URL clients reach", cfg.Edge.PublicURL, u.Scheme)
	}
	src, err := tlsconf.Load(cfg.TLS, log.With("component", "tls"))
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	return src, nil
}

func (s *edgeSockets) close() {
	// A nil listener converts to a nil interface here: skipped.
	for _, c := range []interface{ Close() error }{s.sig, s.tcp, s.udp, s.relay, s.metrics} {
		if c != nil {
			_ = c.Close()
		}
	}
	s.turn.Close()
}

// reportURLs are the control-plane replicas the edge reports to: url, then
// urls.
func reportURLs(c reporter.Config) []string {
	var out []string
	for _, u := range append([]string{c.URL}, c.URLs...) {
		if u != "" {
			out = append(out, u)
		}
	}
	return out
}
