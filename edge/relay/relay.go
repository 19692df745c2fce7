package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// Errors.
var (
	// ErrClosed: the relay is closed.
	ErrClosed = errors.New("relay: closed")
	// ErrNoLink: no connection to the peer is up.
	ErrNoLink = errors.New("relay: no connection to the peer")
	// ErrStreamClosed is what a closed Stream's Read returns.
	ErrStreamClosed = errors.New("relay: stream closed")
)

// Handler receives what the origin sends for one subscription. Its methods
// run on the link's reader goroutines and must not block.
type Handler interface {
	// RTP is a packet of layer exactly as the origin received it from the
	// publisher; pkt is valid only during the call.
	RTP(layer int, pkt []byte)
	// SenderReport is the publisher's RTCP sender report of layer (RFC 3550
	// §6.4.1) as the origin received it: NTP and RTP time of one instant.
	SenderReport(layer int, ntp uint64, rtpTS uint32)
	// LayerState is the origin's view of the track's layers.
	LayerState(s LayerState)
	// Refused: the origin does not serve the track (any more): reason says
	// why. The subscription stays; Close it.
	Refused(reason string)
}

// Origin serves this edge's tracks to the edges that subscribe to them.
// Open runs on the link's control goroutine and must not block.
type Origin interface {
	// Open starts serving track of room to the edge peer through out: the
	// packets of the layers out.Layers() names, its sender reports and its
	// layer states. An error refuses the subscription (its text goes to
	// the subscriber).
	Open(peer, room, track string, out *Sender) (Feed, error)
}

// Feed is one served subscription, as the Origin's side sees the
// subscriber's requests. Its methods run on the link's control goroutine
// and must not block.
type Feed interface {
	// SetLayers is the subscriber's new demand (bit i: layer i).
	SetLayers(mask uint8)
	// RequestKeyframe is a keyframe request (PLI/FIR) for layer.
	RequestKeyframe(layer int)
	// RequestRetransmission asks for packets of layer again (Generic NACK);
	// seqs is valid only during the call.
	RequestRetransmission(layer int, seqs []uint16)
	// Close ends the subscription (unsubscribed, or the link went down):
	// stop writing to the Sender.
	Close()
}

// Config is what a Relay needs. Zero values of the tuning fields mean
// defaults.
type Config struct {
	// Identity is this edge's certificate and the cluster's CAs (required).
	Identity *Identity
	// PacketConn is the relay's UDP socket (required); the relay owns it
	// from New on and closes it. Every link, accepted or dialed, uses it:
	// one UDP port between edges.
	PacketConn net.PacketConn
	// Resolve returns the relay address (host:port) of an edge by node id
	// (from the gossip node metadata); false: unknown (required).
	Resolve func(node string) (addr string, ok bool)
	// Origin serves this edge's tracks (nil: every subscription is refused).
	Origin Origin
	// OnMessage receives the application messages peers Send (nil: dropped).
	// It runs on the link's control goroutine and must not block; payload
	// is valid only during the call.
	OnMessage func(peer, topic string, payload []byte)
	// OnLink hears a link to peer come up (a new connection, after which
	// whatever state was sent before must be sent again) or go down. It
	// runs on the relay's goroutines and must not block.
	OnLink func(peer string, up bool)
	Logger *slog.Logger
	// Metrics counts what crosses the links (nil: not registered).
	Metrics *Metrics
	// SendQueue is the datagrams a link holds before dropping (default
	// 1024).
	SendQueue int
	// ControlQueue is the bytes of control messages a link holds before
	// dropping (default 1 MiB).
	ControlQueue int
	// IdleTimeout: a link that hears nothing for this long is down (QUIC's
	// max idle timeout; keepalives go every quarter of it). Default 5 s.
	IdleTimeout time.Duration
	// RedialMin and RedialMax bound the backoff between dials of a peer
	// that something is wanted from (defaults 100 ms and 5 s).
	RedialMin, RedialMax time.Duration
}

func (c *Config) validate() error {
	if c.Identity == nil || c.PacketConn == nil || c.Resolve == nil {
		return fmt.Errorf("%w: Identity, PacketConn and Resolve are required", ErrConfig)
	}
	if c.SendQueue < 0 || c.ControlQueue < 0 || c.IdleTimeout < 0 || c.RedialMin < 0 || c.RedialMax < 0 {
		return fmt.Errorf("%w: negative size or duration", ErrConfig)
	}
	if c.SendQueue == 0 {
		c.SendQueue = 1024
	}
	if c.ControlQueue == 0 {
		c.ControlQueue = 1 << 20
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 5 * time.Second
	}
	if c.RedialMin == 0 {
		c.RedialMin = 100 * time.Millisecond
	}
	if c.RedialMax == 0 {
		c.RedialMax = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Relay is one edge's end of every relay link. New allocates, Run serves,
// Close stops.
type Relay struct {
	cfg  Config
	node string
	log  *slog.Logger
	m    *Metrics
	tr   *quic.Transport
	qcfg *quic.Config

	ctx    context.Context // Run's, for dials and links; set before running is
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	running   bool
	listening bool // Run accepts: dials may start
	closed    bool
	peers     map[string]*peer
	nextCh    uint32
	done      chan struct{}
}

// New validates cfg and allocates a relay; it starts nothing.
func New(cfg Config) (*Relay, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := cfg.Metrics
	if m == nil {
		var err error
		if m, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	key := quic.StatelessResetKey(cfg.Identity.resetKey())
	r := &Relay{
		cfg:  cfg,
		node: cfg.Identity.Node(),
		log:  cfg.Logger.With("component", "relay", "node", cfg.Identity.Node()),
		m:    m,
		tr:   &quic.Transport{Conn: cfg.PacketConn, StatelessResetKey: &key},
		qcfg: &quic.Config{
			EnableDatagrams:       true,
			MaxIdleTimeout:        cfg.IdleTimeout,
			KeepAlivePeriod:       cfg.IdleTimeout / 4,
			HandshakeIdleTimeout:  cfg.IdleTimeout,
			MaxIncomingStreams:    1, // the control stream
			MaxIncomingUniStreams: -1,
		},
		peers: map[string]*peer{},
		done:  make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// Addr is the relay's local UDP address.
func (r *Relay) Addr() net.Addr { return r.cfg.PacketConn.LocalAddr() }

// Node is this edge's node id.
func (r *Relay) Node() string { return r.node }

// Run accepts links from other edges until ctx ends or Close is called,
// then closes every link and waits for the relay's goroutines. Dialing
// (Subscribe, Hold) works only while Run runs.
func (r *Relay) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running || r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.running = true
	r.mu.Unlock()
	defer close(r.done)
	ln, err := r.tr.Listen(r.cfg.Identity.ServerTLS(), r.qcfg)
	if err != nil {
		r.shutdown()
		return fmt.Errorf("relay: listen: %w", err)
	}
	stop := context.AfterFunc(ctx, r.cancel)
	defer stop()
	r.mu.Lock()
	r.listening = true
	r.mu.Unlock()
	r.wakeAll() // dials asked for before Run
	var failed error
	for {
		conn, err := ln.Accept(r.ctx)
		if err != nil {
			if r.ctx.Err() == nil {
				failed = fmt.Errorf("relay: accept: %w", err) // the socket failed
			}
			break
		}
		r.spawn(func() { r.accept(conn) })
	}
	_ = ln.Close()
	r.shutdown()
	return failed
}

// shutdown closes every link, waits for the goroutines, and closes the
// socket.
func (r *Relay) shutdown() {
	r.mu.Lock()
	r.closed = true
	peers := make([]*peer, 0, len(r.peers))
	for _, p := range r.peers {
		peers = append(peers, p)
	}
	r.mu.Unlock()
	r.cancel()
	for _, p := range peers {
		p.closeLink("relay closing")
	}
	r.wg.Wait()
	_ = r.tr.Close()
	_ = r.cfg.PacketConn.Close()
}

// Close stops Run and waits for it; if Run never ran, it closes the socket.
// Safe to call more than once.
func (r *Relay) Close() error {
	r.cancel()
	r.mu.Lock()
	running := r.running
	r.running = true // a later Run returns ErrClosed
	wasClosed := r.closed
	r.closed = true
	r.mu.Unlock()
	if running {
		<-r.done
		return nil
	}
	if !wasClosed {
		_ = r.tr.Close()
		return r.cfg.PacketConn.Close()
	}
	return nil
}

// accept completes an incoming connection: the peer's certificate was
// checked in the handshake; its Hello must name the same node.
func (r *Relay) accept(conn *quic.Conn) {
	node := peerNode(conn.ConnectionState().TLS)
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.IdleTimeout)
	defer cancel()
	st, err := conn.AcceptStream(ctx)
	if err != nil {
		r.refuse(conn, "no control stream")
		return
	}
	m, err := readHello(st)
	if err != nil || m.node != node || m.version != protocolVersion {
		r.refuse(conn, "bad hello")
		return
	}
	p, err := r.peer(node)
	if err != nil {
		_ = conn.CloseWithError(codeClosing, "relay closing")
		return
	}
	l := newLink(r, p, conn, st, node)
	l.hello()
	r.m.Handshakes.WithLabelValues("ok").Inc()
	p.adopt(l)
}

func (r *Relay) refuse(conn *quic.Conn, why string) {
	r.m.Handshakes.WithLabelValues("refused").Inc()
	r.log.Warn("relay connection refused", "remote", conn.RemoteAddr().String(), "reason", why)
	_ = conn.CloseWithError(codeRefused, why)
}

// peer returns (making it) the state kept for a remote edge.
func (r *Relay) peer(node string) (*peer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	p := r.peers[node]
	if p == nil {
		p = newPeer(r, node)
		r.peers[node] = p
	}
	return p, nil
}

func (r *Relay) wakeAll() {
	r.mu.Lock()
	peers := make([]*peer, 0, len(r.peers))
	for _, p := range r.peers {
		peers = append(peers, p)
	}
	r.mu.Unlock()
	for _, p := range peers {
		p.mu.Lock()
		p.ensureDialerLocked()
		p.mu.Unlock()
	}
}

// spawn runs f on a goroutine the relay waits for, if Run runs and the
// relay is not closing; it reports whether it did. Lock order: a peer's mu
// may be held, never the other way round.
func (r *Relay) spawn(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.listening || r.closed {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// Subscription is this edge's subscription to a track on another edge.
// Its methods are safe for concurrent use.
type Subscription struct {
	p      *peer
	ch     uint32
	room   string
	track  string
	h      Handler
	mu     sync.Mutex
	layers uint8
	closed bool
}

// Subscribe asks node for track of room, the layers in mask (bit i: layer
// i), delivered to h. It connects to node if needed, and subscribes again
// on every new connection until Close.
func (r *Relay) Subscribe(node, room, track string, mask uint8, h Handler) (*Subscription, error) {
	if node == r.node {
		return nil, fmt.Errorf("%w: subscribing to this edge itself", ErrConfig)
	}
	if len(room) > maxName || len(track) > maxName || len(node) > maxName {
		return nil, fmt.Errorf("%w: name too long", ErrConfig)
	}
	p, err := r.peer(node)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.nextCh++
	ch := r.nextCh
	r.mu.Unlock()
	s := &Subscription{p: p, ch: ch, room: room, track: track, h: h, layers: mask}
	p.addSub(s)
	return s, nil
}

// Peer is the node id of the origin.
func (s *Subscription) Peer() string { return s.p.node }

// Layers is the current demand.
func (s *Subscription) Layers() uint8 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.layers
}

// SetLayers changes the demand: the layers in mask cross the link from now
// on, the others stop.
func (s *Subscription) SetLayers(mask uint8) {
	s.mu.Lock()
	if s.closed || s.layers == mask {
		s.mu.Unlock()
		return
	}
	s.layers = mask
	s.mu.Unlock()
	s.p.control(&msg{typ: msgLayers, ch: s.ch, layers: mask})
}

// RequestKeyframe forwards a keyframe request (PLI/FIR) for layer to the
// origin. It never blocks; without a link it is dropped.
func (s *Subscription) RequestKeyframe(layer int) {
	if layer < 0 || layer >= MaxLayers {
		return
	}
	s.p.control(&msg{typ: msgKeyframe, ch: s.ch, layer: uint8(layer)})
}

// RequestRetransmission forwards a NACK for seqs of layer to the origin. It
// never blocks; without a link it is dropped.
func (s *Subscription) RequestRetransmission(layer int, seqs []uint16) {
	if layer < 0 || layer >= MaxLayers || len(seqs) == 0 {
		return
	}
	for len(seqs) > 0 {
		n := min(len(seqs), maxNACK)
		s.p.control(&msg{typ: msgNACK, ch: s.ch, layer: uint8(layer), seqs: seqs[:n]})
		seqs = seqs[n:]
	}
}

// Close ends the subscription; safe to call more than once.
func (s *Subscription) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.p.removeSub(s)
}

func (s *Subscription) subscribeMsg() *msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &msg{typ: msgSubscribe, ch: s.ch, layers: s.layers, room: s.room, track: s.track}
}

// Hold keeps a link to node up (dialing it if needed) until release is
// called, for application messages when no track is subscribed.
func (r *Relay) Hold(node string) (release func(), err error) {
	if node == r.node {
		return nil, fmt.Errorf("%w: holding a link to this edge itself", ErrConfig)
	}
	p, err := r.peer(node)
	if err != nil {
		return nil, err
	}
	p.hold(1)
	var once sync.Once
	return func() { once.Do(func() { p.hold(-1) }) }, nil
}

// Send sends an application message to node on the link's control stream
// (in order with everything else sent there). It never blocks: ErrNoLink
// when no link is up (OnLink says when to send state again), and the
// message is dropped and counted when the link's control queue is full.
func (r *Relay) Send(node, topic string, payload []byte) error {
	if len(topic) > maxName || len(payload) > maxControl-2*maxName {
		return fmt.Errorf("%w: message too large", ErrConfig)
	}
	r.mu.Lock()
	p := r.peers[node]
	r.mu.Unlock()
	if p == nil || !p.control(&msg{typ: msgApp, topic: topic, payload: payload}) {
		return ErrNoLink
	}
	return nil
}

// Connected reports whether a link to node is up.
func (r *Relay) Connected(node string) bool {
	r.mu.Lock()
	p := r.peers[node]
	r.mu.Unlock()
	return p != nil && p.current() != nil
}

// Forget closes the link to node (it failed or left the fleet). What is
// still wanted of it is asked for again when it comes back (Resolve must
// then know it).
func (r *Relay) Forget(node string) {
	r.mu.Lock()
	p := r.peers[node]
	r.mu.Unlock()
	if p != nil {
		p.closeLink("peer forgotten")
	}
}

// LinkStats are the counters of what crossed the link to one peer, over
// every connection to it.
type LinkStats struct {
	DatagramsSent, DatagramsReceived uint64
	BytesSent, BytesReceived         uint64 // RTP bytes
	// LayerBytesSent is BytesSent by simulcast layer and Kind.
	LayerBytesSent [MaxLayers][NumKinds]uint64
	Dropped        uint64 // not sent: queue full or too large
	Connects       uint64 // connections adopted
	RTT            time.Duration
}

// Stats returns the counters of the link to node.
func (r *Relay) Stats(node string) LinkStats {
	r.mu.Lock()
	p := r.peers[node]
	r.mu.Unlock()
	if p == nil {
		return LinkStats{}
	}
	return p.stats()
}

// QUIC application error codes of CONNECTION_CLOSE.
const (
	codeClosing    quic.ApplicationErrorCode = 0 // relay closing, peer forgotten
	codeSuperseded quic.ApplicationErrorCode = 1 // another connection between the pair won
	codeRefused    quic.ApplicationErrorCode = 2 // not a member, bad hello
	codeProtocol   quic.ApplicationErrorCode = 3 // a malformed control message
)
