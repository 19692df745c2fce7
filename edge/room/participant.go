package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/edge/bwe"
	"github.com/spacecast/spacecast/edge/forward"
	"github.com/spacecast/spacecast/edge/signal"
	"github.com/spacecast/spacecast/edge/srtpout"
)

// Participant tuning.
const (
	mailboxLimit   = 4096
	selectEvery    = 100 * time.Millisecond // layer choice
	reportEvery    = 10                     // ticks between sender reports
	candidateLimit = 64
	wantedLimit    = 64
	pingInterval   = 5  // seconds, told to clients
	pingTimeout    = 15 // seconds
)

// Participant is one client in a room: an actor whose loop goroutine owns
// its state and peer connections.
type Participant struct {
	room          *Room
	sid, identity string
	issuedAt      time.Time // the token's issue time (zero: unknown)
	hidden        bool
	autoSubscribe bool
	client        *livekit.ClientInfo
	log           *slog.Logger

	info     atomic.Pointer[livekit.ParticipantInfo] // immutable snapshot
	replaced atomic.Bool
	dcs      atomic.Pointer[dataChannels] // the publisher connection's (client-made)
	subDCs   atomic.Pointer[dataChannels] // the subscriber connection's (edge-made)

	mu     sync.Mutex // guards the mailbox
	mbox   []func()
	wake   chan struct{}
	stop   chan struct{}
	once   sync.Once
	done   chan struct{}
	reason atomic.Int32 // livekit.DisconnectReason of a Close
	action atomic.Int32 // livekit.LeaveRequest_Action of a Close (DISCONNECT unless set)

	wg sync.WaitGroup // media goroutines (layer readers, RTCP readers, writer)

	// sink is the way out of this subscriber's media (every down
	// track's packets, the drain, the writer choice).
	sink *forward.Sink
	// bwe is the subscriber connection's send-side bandwidth estimator
	// (estimate.go): the sink reports what it sends, the connection's
	// transport-cc feedback what arrived.
	bwe *bwe.Estimator
	// twcc is set once transport-cc feedback reached bwe, tcc once a down
	// track negotiated the transport-cc extension; REMB is then ignored.
	twcc, tcc atomic.Bool
	// estimate is the client's REMB, bits/s (0: none).
	estimate atomic.Uint64
	// allocated is the estimate layers were last chosen with;
	// reallocating is set while a choice woken by a drop is queued.
	allocated    atomic.Uint64
	reallocating atomic.Bool
	// rtt is the round-trip time to the subscriber (nanoseconds; 0:
	// unknown), from its receiver reports.
	rtt atomic.Int64
	// speaking: the room counts the participant among the active
	// speakers; its camera comes first in its subscribers' layer choice.
	speaking atomic.Bool
	// downScore is the quality of what the participant receives
	// (quality.go), as its loop last rated it.
	downScore atomic.Uint64 // math.Float64bits
	// quality is the connection quality the room last reported (the
	// room's goroutine only).
	quality float64
	// direct, when set, encrypts and sends the subscriber's RTP in place
	// of pion's write path once the handshake and the selected pair allow
	// (the sink writes with it).
	direct directSender

	guard *guard // rates and sizes of what the client sends (guard.go)

	// Owned by the loop goroutine.
	conn          *signal.Conn
	pub, sub      *webrtc.PeerConnection
	pending       map[string]*livekit.TrackInfo // AddTrack requests by cid
	wantCodec     map[string]string             // cid → MIME type the answer puts first (the video codec the client asked for; RED for audio)
	byCID         map[string]*PubTrack
	published     map[string]*PubTrack // by sid
	downs         map[string]*DownTrack
	wanted        map[string]bool // track sids asked for before they were live
	subOffering   bool            // an offer is waiting for the client's answer
	subDirty      bool            // transceivers changed since the last offer
	subScheduled  bool
	iceRestart    bool
	pubCandidates []webrtc.ICECandidateInit
	subCandidates []webrtc.ICECandidateInit
	depart        *time.Timer
	departC       <-chan time.Time
	leaving       bool
	single        bool // one connection both ways (pub == sub), the client offering
	subPrimary    bool // the subscriber connection is primary (carries data down)
	subConnected  bool // the subscriber connection is up (DTLS too): media can flow
	layers        layerChoice
	// joinStarted is when the join's signalling session began (media
	// clock; 0: not timing), and stages the stages already observed.
	joinStarted int64
	stages      map[string]bool
}

// directSender is the edge's own SRTP write path of a subscriber
// connection (an srtpout.Sender): the sink writes with it, the
// participant follows the connection's handshake and selected pair.
type directSender interface {
	forward.Direct
	Connected() error
	SetPair(*webrtc.ICECandidatePair) error
	Used() bool
}

type dataChannels struct {
	reliable, lossy *webrtc.DataChannel
}

func newParticipant(r *Room, jp JoinParams) (*Participant, error) {
	perm := jp.Permission
	if perm == nil {
		perm = &livekit.ParticipantPermission{}
	}
	sid := newID("PA_")
	p := &Participant{
		room: r, sid: sid, identity: jp.Identity, issuedAt: jp.IssuedAt,
		hidden: perm.Hidden, autoSubscribe: jp.AutoSubscribe,
		client:  jp.Client,
		log:     r.log.With("participant", jp.Identity, "sid", sid),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		pending: map[string]*livekit.TrackInfo{}, byCID: map[string]*PubTrack{}, wantCodec: map[string]string{},
		published: map[string]*PubTrack{}, downs: map[string]*DownTrack{}, wanted: map[string]bool{},
		guard: newGuard(),
	}
	now := time.Now()
	p.info.Store(&livekit.ParticipantInfo{
		Sid: sid, Identity: jp.Identity, Name: jp.Name, Metadata: jp.Metadata,
		Attributes: jp.Attributes, State: livekit.ParticipantInfo_JOINING,
		JoinedAt: now.Unix(), JoinedAtMs: now.UnixMilli(), Permission: perm,
		Kind: jp.Kind, Version: 1,
	})
	cfg := webrtc.Configuration{SDPSemantics: webrtc.SDPSemanticsUnifiedPlan, BundlePolicy: webrtc.BundlePolicyMaxBundle}
	var err error
	if p.bwe, err = newEstimator(); err != nil {
		return nil, err
	}
	var direct *srtpout.Sender
	if jp.Single {
		if r.mgr.cfg.SingleAPI == nil {
			return nil, fmt.Errorf("%w: single peer connections", ErrUnsupported)
		}
		p.single = true
		if p.pub, direct, err = r.mgr.cfg.SingleAPI.NewPeerConnection(cfg, p.transportFeedback); err != nil {
			return nil, fmt.Errorf("room: peer connection: %w", err)
		}
		p.sub = p.pub
	} else {
		if p.pub, err = r.mgr.cfg.API.NewPeerConnection(cfg); err != nil {
			return nil, fmt.Errorf("room: publisher peer connection: %w", err)
		}
		if p.sub, direct, err = r.mgr.cfg.SubAPI.NewPeerConnection(cfg, p.transportFeedback); err != nil {
			_ = p.pub.Close()
			return nil, fmt.Errorf("room: subscriber peer connection: %w", err)
		}
	}
	if direct != nil {
		p.direct = direct
	}
	sc := forward.SinkConfig{Queue: forward.QueueConfig{Size: r.mgr.cfg.SubscriberQueue}, Metrics: r.mgr.metrics.media, Now: r.mgr.now, BWE: p.bwe}
	if direct != nil {
		sc.Direct = direct
	}
	if p.sink, err = forward.NewSink(sc); err != nil {
		p.discard()
		return nil, err
	}
	p.wireCallbacks()
	return p, nil
}

// discard releases a participant that never joined.
func (p *Participant) discard() {
	_ = p.pub.Close()
	_ = p.sub.Close()
}

// SID is the participant's id.
func (p *Participant) SID() string { return p.sid }

// Identity is the participant's identity.
func (p *Participant) Identity() string { return p.identity }

// Info is the participant's current snapshot (do not modify).
func (p *Participant) Info() *livekit.ParticipantInfo { return p.info.Load() }

// Done is closed when the participant has left and released everything.
func (p *Participant) Done() <-chan struct{} { return p.done }

// post queues f for the loop. It never blocks; a participant whose mailbox
// overflows is closed.
func (p *Participant) post(f func()) bool {
	p.mu.Lock()
	if len(p.mbox) >= mailboxLimit {
		p.mu.Unlock()
		p.log.Warn("mailbox overflow, closing participant")
		p.Close(livekit.DisconnectReason_STATE_MISMATCH)
		return false
	}
	p.mbox = append(p.mbox, f)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// sendAsync queues a response for the client.
func (p *Participant) sendAsync(msg *livekit.SignalResponse) {
	p.post(func() { p.send(msg) })
}

// Close makes the participant leave with reason (sent to the client in a
// LeaveRequest). Safe from any goroutine, any number of times.
func (p *Participant) Close(reason livekit.DisconnectReason) {
	p.once.Do(func() {
		p.reason.Store(int32(reason))
		close(p.stop)
	})
}

// reconnect makes the participant leave, asking the client to join again
// in full (new peer connections); safe from any goroutine.
func (p *Participant) reconnect(reason livekit.DisconnectReason) {
	p.action.Store(int32(livekit.LeaveRequest_RECONNECT))
	p.Close(reason)
}

// Attach gives the participant its signalling connection: a fresh join gets
// a JoinResponse, a resume a ReconnectResponse and an ICE restart.
func (p *Participant) Attach(c *signal.Conn, resume bool) bool {
	return p.post(func() { p.attach(c, resume) })
}

// Deliver hands the participant a request read from c.
func (p *Participant) Deliver(c *signal.Conn, req *livekit.SignalRequest) bool {
	return p.post(func() {
		if c == p.conn {
			p.handle(req)
		}
	})
}

// Detach tells the participant that c ended with err. A malformed message
// ends the session with a LeaveRequest; a dropped connection starts the
// departure timeout, during which the client may resume.
func (p *Participant) Detach(c *signal.Conn, err error) {
	if !p.post(func() { p.detach(c, err) }) {
		c.Close("")
	}
}

func (p *Participant) loop() {
	defer close(p.done)
	defer p.cleanup()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // before cleanup (deferred earlier) waits for the sink's goroutine
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.sink.Run(ctx) // the writer while the connection is not inline (TCP)
	}()
	tick := time.NewTicker(selectEvery)
	defer tick.Stop()
	ticks := 0
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.allocate()
			if t, ok := p.sink.FirstSent(); ok {
				p.joinStage("first_media", t)
			}
			if ticks++; ticks%reportEvery == 0 {
				p.sendReports()
				p.rateDownstream()
				p.room.mgr.metrics.bandwidth.Observe(float64(p.bandwidth()))
			}
		case <-p.departC:
			p.log.Info("departure timeout")
			p.Close(livekit.DisconnectReason_SIGNAL_CLOSE)
		case <-p.wake:
			p.mu.Lock()
			q := p.mbox
			p.mbox = nil
			p.mu.Unlock()
			for _, f := range q {
				select {
				case <-p.stop:
					return
				default:
				}
				f()
			}
		}
	}
}

func (p *Participant) cleanup() {
	reason := livekit.DisconnectReason(p.reason.Load())
	if p.depart != nil {
		p.depart.Stop()
	}
	if p.conn != nil {
		if !p.leaving {
			action := livekit.LeaveRequest_Action(p.action.Load())
			p.conn.CloseWith(&livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
				Reason: reason, Action: action, CanReconnect: action == livekit.LeaveRequest_RECONNECT,
			}}}, reason.String())
		}
		p.conn.Close(reason.String())
		p.conn = nil
	}
	for sid := range p.downs {
		p.dropDown(sid)
	}
	for _, t := range p.published {
		p.room.unpublish(t)
		t.close()
	}
	_ = p.pub.Close()
	_ = p.sub.Close()
	p.wg.Wait()
	p.room.remove(p, !p.replaced.Load())
	p.room.mgr.cfg.Observer.ParticipantLeft(p.room.Proto(), p.Info(), reason)
	p.log.Info("participant left", "reason", reason.String())
	if p.twcc.Load() {
		// What the send-side estimator did over the session: what an
		// operator reads when a subscriber's quality is questioned.
		st, est := p.bwe.Stats(), p.bwe.Estimate()
		p.log.Info("subscriber bandwidth estimation", "estimate_bps", est.Target, "rtt", est.RTT,
			"feedbacks", st.Feedbacks, "received", st.Received, "lost", st.Lost,
			"delay_decreases", st.DelayDecreases, "loss_decreases", st.LossDecreases,
			"probes", st.Probes, "probe_lifts", st.ProbeLifts, "probes_failed", st.ProbesFailed, "start_lowered", st.StartLowered)
	}
}

func (p *Participant) send(msg *livekit.SignalResponse) {
	if p.conn == nil {
		return
	}
	if err := p.conn.Send(msg); err != nil && errors.Is(err, signal.ErrQueueFull) {
		p.log.Warn("signal queue full, closing participant")
		p.Close(livekit.DisconnectReason_STATE_MISMATCH)
	}
}

// setInfo changes the participant's info and tells everyone (itself too).
func (p *Participant) setInfo(f func(*livekit.ParticipantInfo)) {
	n := proto.Clone(p.info.Load()).(*livekit.ParticipantInfo)
	f(n)
	n.Version++
	p.info.Store(n)
	p.room.broadcast(p, n)
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: []*livekit.ParticipantInfo{n}}}})
}

func (p *Participant) syncTracks(n *livekit.ParticipantInfo) {
	n.Tracks = n.Tracks[:0]
	for _, t := range p.published {
		n.Tracks = append(n.Tracks, t.Info())
	}
	n.IsPublisher = len(n.Tracks) > 0
}

// joinStage records, once per join, that the join reached stage at
// (media clock) (loop only).
func (p *Participant) joinStage(stage string, at int64) {
	if p.joinStarted == 0 || p.stages[stage] {
		return
	}
	if p.stages == nil {
		p.stages = map[string]bool{}
	}
	p.stages[stage] = true
	p.room.mgr.metrics.joinStage.WithLabelValues(stage).Observe(time.Duration(at - p.joinStarted).Seconds())
}

// writePublisherRTCP sends RTCP to the publisher (any goroutine).
func (p *Participant) writePublisherRTCP(pkt rtcp.Packet) {
	if p.pub == nil {
		return
	}
	_ = p.pub.WriteRTCP([]rtcp.Packet{pkt})
}
