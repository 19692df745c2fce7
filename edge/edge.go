package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/edge/mmsg"
	"github.com/spacecast/spacecast/edge/recorder"
	"github.com/spacecast/spacecast/edge/relay"
	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/edge/rtc"
	"github.com/spacecast/spacecast/edge/token"
	"github.com/spacecast/spacecast/internal/blob"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/httpserve"
	"github.com/spacecast/spacecast/internal/occupancy"
	"github.com/spacecast/spacecast/internal/turncred"
)

// Version is reported to clients in ServerInfo. LiveKit clients compare it
// with LiveKit server versions to pick features; the edge speaks the
// protocol of that release.
const Version = "1.9.0"

// Deps are what the caller gives the edge.
type Deps struct {
	Logger     *slog.Logger
	Cluster    clusterkey.Config
	Registerer prometheus.Registerer // nil: metrics are not registered
	// UDP is the single ICE UDP socket (required). The edge owns it from
	// New on and closes it in Close.
	UDP net.PacketConn
	// TCP optionally accepts ICE over TCP; owned like UDP.
	TCP net.Listener
	// Signal, when set, is where Run serves the HTTP handler. Leave it nil
	// to mount Handler on your own server (spacecast dev).
	Signal net.Listener
	// Observer hears room, participant and track events (webhooks, the
	// room directory); nil: nobody. See room.Observer for its contract.
	Observer room.Observer
	// Revoked, when set, is asked on every join, resume and validate
	// whether the participant's credential, issued at issued (zero when the
	// token does not say), was revoked cluster-wide (a moderator's removal
	// gossiped from the control plane). A revoked credential gets 403. It
	// must answer quickly: it runs on every connection attempt.
	Revoked func(room, identity string, issued time.Time) bool
	// Revoke, when set, records a moderator's removal made on this edge
	// (RoomService.RemoveParticipant: the room page's Remove) as the same
	// cluster-wide revocation as a removal through the control plane's
	// REST API: identity is barred from room for every credential issued
	// at or before at (session, permanent link, user token, media token),
	// on every replica and edge, until it is invited again. Nil: the
	// removal holds on this edge only.
	Revoke func(room, identity string, at time.Time) error
	// Relay, when set, joins this edge's rooms with the same rooms on the
	// other edges that host them (edge/relay): a room spans edges. Nil: a
	// room lives on this edge alone.
	Relay *RelayDeps
	// Checks are readiness conditions beyond the edge's own (/readyz):
	// the fleet joined, the TURN server running.
	Checks []Check
	// Recording, when set, lets the edge record its rooms (edge/recorder:
	// LiveKit's Egress service, a room composite being the room's
	// recording). Nil: the Egress service answers Unavailable.
	Recording *RecordingDeps
}

// RecordingDeps are what the edge's recordings need from the caller.
type RecordingDeps struct {
	// Config is the `recording:` section.
	Config recorder.Config
	// Store keeps the recordings' files (the `storage:` section).
	Store blob.Store
	// Report hears each recording's new state (the Reporter's
	// RecordChanged: the control plane's records and record_* webhooks).
	Report func(occupancy.RecordState)
}

// RelayDeps are what the edge-to-edge relay needs from the caller.
type RelayDeps struct {
	// PacketConn is the relay's UDP socket; the edge owns it from New on.
	PacketConn net.PacketConn
	// Keys is the cluster keyring the relay's CA derives from
	// (clusterkey.Config.GossipKeyring, primary first).
	Keys [][]byte
	// Resolve finds another edge's relay address (host:port) by node id,
	// from the gossip node metadata.
	Resolve func(node string) (addr string, ok bool)
	// Hosts lists the other edges hosting a room, from the gossip room
	// directory (without this edge).
	Hosts func(room string) []string
	// Region is an edge's region by node id, from the gossip node
	// metadata ("" unknown); nil: every remote track is pulled from its
	// publisher's edge, never through an edge of this region that has it.
	Region func(node string) string
	// LinkIdle: a link to another edge that neither edge has wanted
	// anything of for this long closes (relay.Config.LinkIdle; 0: 30 s).
	LinkIdle time.Duration
}

// Edge is one media edge.
type Edge struct {
	cfg      Config
	log      *slog.Logger
	verifier *token.Verifier
	rooms    *room.Manager
	handler  http.Handler
	signal   net.Listener
	udp      net.PacketConn
	media    *mmsg.Conn // wraps udp
	tcp      net.Listener

	revoked  func(room, identity string, issued time.Time) bool
	revoke   func(room, identity string, at time.Time) error
	relay    *relay.Relay      // nil: rooms live on this edge alone
	recorder *recorder.Service // nil: no recording here

	mu       sync.Mutex
	closed   bool
	draining bool
	serving  atomic.Bool // Run is serving
	checks   []Check
	sessions sync.WaitGroup // signalling connections being served
	conns    map[*http.Request]func()
	once     sync.Once
}

// New validates cfg and builds the edge; it starts nothing.
func New(cfg Config, deps Deps) (*Edge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.Cluster.Validate(); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	if deps.UDP == nil {
		return nil, fmt.Errorf("%w: Deps.UDP (the ICE UDP socket) is required", ErrInvalidConfig)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "edge", "node", cfg.NodeID, "region", cfg.Region)
	loopback := false
	if a, ok := deps.UDP.LocalAddr().(*net.UDPAddr); ok && a.IP.IsLoopback() {
		loopback = true
	}
	// The media socket under the UDP mux: a fan-out's packets leave in one
	// sendmmsg, and what it sends is counted.
	media := mmsg.New(deps.UDP)
	apis, err := rtc.NewAPIs(rtc.APIOptions{
		UDP: media, TCP: deps.TCP, NodeIPs: cfg.RTC.NodeIPs, Interfaces: cfg.RTC.Interfaces,
		Loopback: loopback, Logger: log, Direct: media, REMB: cfg.RTC.CongestionControl == "remb",
	})
	if err != nil {
		return nil, err
	}
	metrics, err := room.NewMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	if err := registerMedia(deps.Registerer, media); err != nil {
		return nil, err
	}
	e := &Edge{
		cfg: cfg, log: log, verifier: token.NewVerifier(deps.Cluster.APIKeys),
		signal: deps.Signal, udp: deps.UDP, tcp: deps.TCP, conns: map[*http.Request]func(){},
		revoked: deps.Revoked, revoke: deps.Revoke, media: media, checks: deps.Checks,
	}
	grace := time.Duration(0)
	if deps.Recording != nil {
		if err := deps.Recording.Config.Validate(); err != nil {
			return nil, err
		}
		grace = deps.Recording.Config.EmptyGrace
	}
	turnSecret := ""
	if len(deps.Cluster.TURNSecrets) > 0 {
		turnSecret = deps.Cluster.TURNSecrets[0]
	}
	e.rooms, err = room.NewManager(room.Config{
		API: apis.Publisher, SubAPI: apis.Subscriber, SingleAPI: apis.Single, NodeID: cfg.NodeID, Region: cfg.Region, Version: Version,
		MaxParticipants: cfg.Room.MaxParticipants, EmptyTimeout: cfg.Room.EmptyTimeout,
		DepartureTimeout: cfg.Room.DepartureTimeout, SubscriberQueue: cfg.RTC.SubscriberQueue,
		ICEServers: func(identity string) []*livekit.ICEServer { return iceServers(cfg, turnSecret, identity) },
		Logger:     log, Metrics: metrics, Observer: deps.Observer, Batch: media, RecordingGrace: grace,
	})
	if err != nil {
		return nil, err
	}
	if rd := deps.Recording; rd != nil {
		if e.recorder, err = recorder.New(rd.Config, recorder.Deps{Rooms: e.rooms, Store: rd.Store, Report: rd.Report, Logger: log}); err != nil {
			return nil, err
		}
	}
	if deps.Relay != nil {
		if e.relay, err = newRelay(cfg, deps, e.rooms, log); err != nil {
			return nil, err
		}
		e.rooms.AttachRelay(e.relay, deps.Relay.Hosts)
		if deps.Relay.Region != nil {
			e.rooms.AttachRegions(deps.Relay.Region)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/rtc", e.serveRTC)
	mux.HandleFunc("/rtc/validate", e.serveValidate)
	mux.HandleFunc("/rtc/v1", e.serveV1)
	mux.HandleFunc("/rtc/v1/validate", e.serveValidate)
	mux.HandleFunc("/probe", serveProbe)
	mux.HandleFunc("/healthz", serveHealthz)
	mux.HandleFunc("/readyz", e.serveReadyz)
	mux.Handle(livekit.RoomServicePathPrefix, e.roomService())
	mux.Handle(livekit.EgressPathPrefix, e.egressService())
	e.handler = cors(e.bounded(mux))
	return e, nil
}

// cors lets pages on other origins (the control plane's room page) call the
// edge: livekit-client fetches /rtc/v1/validate (or /rtc/validate) from the
// page after a failed connection. Access is granted by the
// token in the request, never by cookies, so any origin may ask.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Twirp-Version")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bounded gives every request but a WebSocket upgrade a deadline to read
// its body and one to write its answer, so a client that trickles a body
// or never reads holds nothing for long. (A WebSocket's frames have their
// own deadlines, edge/signal.)
func (e *Edge) bounded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !websocket.IsWebSocketUpgrade(r) {
			rc := http.NewResponseController(w)
			now := time.Now()
			_ = rc.SetReadDeadline(now.Add(e.cfg.HTTP.ReadTimeout))
			_ = rc.SetWriteDeadline(now.Add(e.cfg.HTTP.WriteTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

// iceServers are the STUN/TURN servers for one participant, with TURN REST
// credentials valid for cfg.TURNCredentialTTL.
func iceServers(cfg Config, secret, identity string) []*livekit.ICEServer {
	var stun, turnURLs []string
	for _, u := range cfg.TURNURLs {
		if len(u) > 5 && u[:5] == "stun:" {
			stun = append(stun, u)
		} else {
			turnURLs = append(turnURLs, u)
		}
	}
	var out []*livekit.ICEServer
	if len(stun) > 0 {
		out = append(out, &livekit.ICEServer{Urls: stun})
	}
	if len(turnURLs) > 0 && secret != "" {
		user, pass := turncred.Mint(secret, identity, time.Now().Add(cfg.TURNCredentialTTL))
		out = append(out, &livekit.ICEServer{Urls: turnURLs, Username: user, Credential: pass})
	}
	return out
}

// Handler serves /rtc, /rtc/validate and the Twirp RoomService.
func (e *Edge) Handler() http.Handler { return e.handler }

// Rooms is the room manager (for the control plane's in-process use and
// tests).
func (e *Edge) Rooms() *room.Manager { return e.rooms }

// Serve serves Handler on ln until ctx ends.
func (e *Edge) Serve(ctx context.Context, ln net.Listener) error {
	lim := httpserve.Limits{IdleTimeout: e.cfg.HTTP.IdleTimeout, MaxHeaderBytes: e.cfg.HTTP.MaxHeaderBytes,
		ReadHeaderTimeout: e.cfg.HTTP.ReadTimeout, ErrorLog: e.log}
	if err := httpserve.ServeLimited(ctx, ln, e.handler, 5*time.Second, lim); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	return nil
}

// Run serves Deps.Signal (when given) and the relay until ctx ends, then
// closes the edge.
func (e *Edge) Run(ctx context.Context) error {
	defer e.Close()
	e.serving.Store(true)
	defer e.serving.Store(false)
	if e.recorder != nil {
		// Stopped, and its recordings stored, before the rooms close.
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = e.recorder.Run(rctx)
		}()
		defer func() { cancel(); <-done }()
	}
	if e.relay != nil {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := e.relay.Run(ctx); err != nil {
				e.log.Error("relay stopped", "err", err)
			}
		}()
		defer func() { cancel(); <-done }()
		e.log.Info("relay listening", "udp", e.relay.Addr().String())
	}
	if e.signal == nil {
		<-ctx.Done()
		return nil
	}
	e.log.Info("edge listening", "signal", e.signal.Addr().String(), "udp", e.udp.LocalAddr().String())
	return e.Serve(ctx, e.signal)
}

// Relay is the edge-to-edge relay (nil when Deps.Relay was not given).
func (e *Edge) Relay() *relay.Relay { return e.relay }

// newRelay makes the edge's end of the relay: its identity from the
// cluster keys, the room manager serving its tracks and taking the other
// edges' room state.
func newRelay(cfg Config, deps Deps, rooms *room.Manager, log *slog.Logger) (*relay.Relay, error) {
	rd := deps.Relay
	if rd.PacketConn == nil || rd.Resolve == nil || rd.Hosts == nil {
		return nil, fmt.Errorf("%w: Relay needs PacketConn, Resolve and Hosts", ErrInvalidConfig)
	}
	if cfg.NodeID == "" {
		return nil, fmt.Errorf("%w: the relay needs edge.nodeID", ErrInvalidConfig)
	}
	id, err := relay.NewIdentity(cfg.NodeID, rd.Keys, nil)
	if err != nil {
		return nil, fmt.Errorf("edge: relay: %w", err)
	}
	m, err := relay.NewMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	return relay.New(relay.Config{
		Identity: id, PacketConn: rd.PacketConn, Resolve: rd.Resolve,
		Origin: rooms, OnMessage: rooms.RelayMessage, OnLink: rooms.RelayLink,
		Logger: log, Metrics: m, LinkIdle: rd.LinkIdle,
	})
}

// Close disconnects everyone (SERVER_SHUTDOWN), waits for every goroutine
// and closes the sockets. Safe to call twice.
func (e *Edge) Close() error {
	e.once.Do(func() {
		e.mu.Lock()
		e.closed = true
		aborts := make([]func(), 0, len(e.conns))
		for _, f := range e.conns {
			aborts = append(aborts, f)
		}
		e.mu.Unlock()
		e.rooms.Close()
		for _, f := range aborts {
			f()
		}
		e.sessions.Wait()
		if e.relay != nil {
			_ = e.relay.Close()
		}
		_ = e.udp.Close()
		if e.tcp != nil {
			_ = e.tcp.Close()
		}
	})
	return nil
}

// registerMedia exports the media socket's counters.
func registerMedia(reg prometheus.Registerer, media *mmsg.Conn) error {
	if reg == nil {
		return nil
	}
	counters := []struct {
		name, help string
		get        func(mmsg.Stats) uint64
	}{
		{"spacecast_edge_udp_sent_bytes_total", "Bytes the edge's media socket sent.", func(s mmsg.Stats) uint64 { return s.Bytes }},
		{"spacecast_edge_udp_sent_packets_total", "Packets the edge's media socket sent.", func(s mmsg.Stats) uint64 { return s.Packets }},
		{"spacecast_edge_udp_send_calls_total", "System calls (sendto or sendmmsg) that sent them.", func(s mmsg.Stats) uint64 { return s.Calls }},
		{"spacecast_edge_udp_send_failures_total", "Packets the kernel refused to send.", func(s mmsg.Stats) uint64 { return s.Failed }},
		{"spacecast_edge_udp_segmented_packets_total", "Packets sent inside segmented (GSO) writes: a video frame's packets for one subscriber in one write.", func(s mmsg.Stats) uint64 { return s.Segmented }},
	}
	for _, c := range counters {
		get := c.get
		f := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help}, func() float64 { return float64(get(media.Stats())) })
		if err := reg.Register(f); err != nil {
			return fmt.Errorf("edge: metrics: %w", err)
		}
	}
	return nil
}

// MediaBytesOut is the bytes the media socket has sent (the bandwidth an
// edge advertises in its load).
func (e *Edge) MediaBytesOut() uint64 { return e.media.BytesOut() }
