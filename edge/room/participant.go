package room

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/edge/cache"
	"github.com/spacecast/spacecast/edge/forward"
	"github.com/spacecast/spacecast/edge/mmsg"
	"github.com/spacecast/spacecast/edge/signal"
	"github.com/spacecast/spacecast/edge/simulcast"
	"github.com/spacecast/spacecast/edge/srtpout"
)

// Participant tuning.
const (
	mailboxLimit   = 4096
	selectEvery    = 500 * time.Millisecond
	audioBudget    = 64_000 // bits/s set aside per audio track
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

	// Media to this subscriber: every down track's forwarder fills queue;
	// one writer goroutine drains it.
	queue *forward.Queue
	tags  atomic.Pointer[map[uint32]*DownTrack]
	// estimate is the subscriber's bandwidth estimate in bits/s (the
	// edge's own from TWCC feedback, else the client's REMB; 0: unknown).
	estimate atomic.Uint64
	// twcc is set once TWCC feedback produced an estimate: REMB is then
	// ignored.
	twcc atomic.Bool
	// rtt is the round-trip time to the subscriber (nanoseconds; 0:
	// unknown), from its receiver reports.
	rtt atomic.Int64
	// Over UDP (inline) the goroutine that queued a packet sends it at once
	// (whoever holds draining drains the queue), which spares a goroutine
	// wake-up per packet; over TCP, whose writes can block, the writer
	// goroutine does, so a slow subscriber never holds a publisher's reader.
	inline      atomic.Bool
	draining    atomic.Bool
	modeChanged chan struct{}
	// direct, when set, encrypts and sends the subscriber's RTP in place
	// of pion's write path once the handshake and the selected pair allow
	// (whoever holds draining writes with it).
	direct directSender

	guard *guard // rates and sizes of what the client sends (guard.go)

	// Owned by the loop goroutine.
	conn          *signal.Conn
	pub, sub      *webrtc.PeerConnection
	pending       map[string]*livekit.TrackInfo // AddTrack requests by cid
	wantCodec     map[string]string             // cid → video MIME type the client asked for
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
	nextTag       uint32
	subPrimary    bool // the subscriber connection is primary (carries data down)
	subConnected  bool // the subscriber connection is up (DTLS too): media can flow
	primeBuf      []byte
}

// directSender is the edge's own SRTP write path of a subscriber
// connection (an srtpout.Sender).
type directSender interface {
	Connected() error
	SetPair(*webrtc.ICECandidatePair) error
	Ready() bool
	Used() bool
	WriteRTP(pkt []byte, hdr *rtp.Header, out *mmsg.Batch) error
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
		client:      jp.Client,
		log:         r.log.With("participant", jp.Identity, "sid", sid),
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		modeChanged: make(chan struct{}, 1),
		pending:     map[string]*livekit.TrackInfo{}, byCID: map[string]*PubTrack{}, wantCodec: map[string]string{},
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
	if p.pub, err = r.mgr.cfg.API.NewPeerConnection(cfg); err != nil {
		return nil, fmt.Errorf("room: publisher peer connection: %w", err)
	}
	var direct *srtpout.Sender
	if p.sub, direct, err = r.mgr.cfg.SubAPI.NewPeerConnection(cfg); err != nil {
		_ = p.pub.Close()
		return nil, fmt.Errorf("room: subscriber peer connection: %w", err)
	}
	if direct != nil {
		p.direct = direct
	}
	if p.queue, err = forward.NewQueue(forward.QueueConfig{Size: r.mgr.cfg.SubscriberQueue}); err != nil {
		p.discard()
		return nil, err
	}
	p.tags.Store(&map[uint32]*DownTrack{})
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
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.writeMedia()
	}()
	tick := time.NewTicker(selectEvery)
	defer tick.Stop()
	reports := false // sender reports every other tick
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			for _, d := range p.downs {
				p.selectLayer(d, false)
			}
			if reports = !reports; reports {
				p.sendReports()
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

func (p *Participant) attach(c *signal.Conn, resume bool) {
	if p.conn != nil && p.conn != c {
		p.conn.Close("replaced by a new connection")
	}
	p.conn = c
	if p.depart != nil {
		p.depart.Stop()
		p.depart, p.departC = nil, nil
	}
	ice := p.room.mgr.cfg.ICEServers(p.identity)
	if resume {
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Reconnect{Reconnect: &livekit.ReconnectResponse{IceServers: ice}}})
		// An offer in flight when the connection dropped is lost: make
		// a new one, restarting ICE.
		p.subOffering = false
		p.iceRestart = true
		p.subDirty = true
		p.scheduleOffer()
		return
	}
	p.setState(livekit.ParticipantInfo_JOINED)
	cfg := p.room.mgr.cfg
	cfg.Observer.ParticipantJoined(p.room.Proto(), p.Info())
	perm := p.Info().Permission
	// Like LiveKit's server: a participant that may subscribe gets the
	// subscriber connection as primary, offered at once with the edge's
	// data channels (so the SDKs wait for data to be ready before sending).
	// FastPublish stays off: the publisher connection is negotiated on the
	// first publish or data packet, so pure subscribers cost one peer
	// connection, not two.
	p.subPrimary = perm.GetCanSubscribe()
	if p.subPrimary {
		if err := p.createSubDataChannels(); err != nil {
			p.log.Warn("subscriber data channels", "error", err)
			p.subPrimary = false
		}
	}
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Join{Join: &livekit.JoinResponse{
		Room:              p.room.Proto(),
		Participant:       p.Info(),
		OtherParticipants: p.room.others(p),
		ServerVersion:     cfg.Version,
		ServerRegion:      cfg.Region,
		IceServers:        ice,
		SubscriberPrimary: p.subPrimary,
		PingInterval:      pingInterval,
		PingTimeout:       pingTimeout,
		ServerInfo: &livekit.ServerInfo{
			Edition: livekit.ServerInfo_Standard, Version: cfg.Version, Protocol: 16,
			Region: cfg.Region, NodeId: cfg.NodeID,
		},
	}}})
	if p.autoSubscribe {
		for _, t := range p.room.tracksOf(p) {
			p.subscribe(t)
		}
	}
	if p.subPrimary {
		p.subDirty = true
		p.scheduleOffer()
	}
}

// createSubDataChannels makes the edge's data channels on the subscriber
// connection, the way LiveKit clients expect them when it is primary.
func (p *Participant) createSubDataChannels() error {
	ordered, unordered, none := true, false, uint16(0)
	rel, err := p.sub.CreateDataChannel(reliableLabel, &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		return err
	}
	lossy, err := p.sub.CreateDataChannel(lossyLabel, &webrtc.DataChannelInit{Ordered: &unordered, MaxRetransmits: &none})
	if err != nil {
		return err
	}
	dcs := &dataChannels{reliable: rel, lossy: lossy}
	var opened atomic.Int32
	for _, dc := range []*webrtc.DataChannel{rel, lossy} {
		kind := livekit.DataPacket_RELIABLE
		if dc == lossy {
			kind = livekit.DataPacket_LOSSY
		}
		dc.OnOpen(func() {
			if opened.Add(1) == 2 {
				p.subDCs.Store(dcs)
			}
		})
		// Clients may send on these too.
		dc.OnMessage(func(m webrtc.DataChannelMessage) { p.onData(kind, m) })
	}
	return nil
}

func (p *Participant) setState(s livekit.ParticipantInfo_State) {
	if p.Info().State == s {
		return
	}
	n := proto.Clone(p.info.Load()).(*livekit.ParticipantInfo)
	n.State = s
	n.Version++
	p.info.Store(n)
	if s == livekit.ParticipantInfo_ACTIVE || s == livekit.ParticipantInfo_JOINED {
		p.room.broadcast(p, n)
	}
}

func (p *Participant) detach(c *signal.Conn, err error) {
	if c != p.conn {
		c.Close("")
		return
	}
	if errors.Is(err, signal.ErrTooLarge) || errors.Is(err, signal.ErrMalformed) || errors.Is(err, signal.ErrEmpty) {
		p.room.mgr.metrics.signalErrors.Inc()
		p.log.Warn("bad signalling message, closing", "error", err)
		p.Close(livekit.DisconnectReason_STATE_MISMATCH)
		return
	}
	c.Close("")
	p.conn = nil
	if p.leaving {
		return
	}
	p.depart = time.NewTimer(p.room.mgr.cfg.DepartureTimeout)
	p.departC = p.depart.C
}

// reportsPerPacket bounds the sender reports in one compound RTCP packet
// (28 bytes each: 30 stay well inside an MTU).
const reportsPerPacket = 30

// sendReports sends a sender report for every down track that sent media
// lately (loop only). The edge writes them itself instead of running
// pion's report interceptor on subscriber connections, which took a lock
// and a clock read on every forwarded packet.
func (p *Participant) sendReports() {
	if p.sub == nil {
		return
	}
	m := p.room.mgr
	now, wall := m.now(), time.Now()
	var pkts []rtcp.Packet
	for _, d := range p.downs {
		if sr := d.senderReport(now, wall); sr != nil {
			pkts = append(pkts, sr)
		}
		if len(pkts) == reportsPerPacket {
			_ = p.sub.WriteRTCP(pkts)
			pkts = pkts[:0:0]
		}
	}
	if len(pkts) > 0 {
		_ = p.sub.WriteRTCP(pkts)
	}
}

// writePublisherRTCP sends RTCP to the publisher (any goroutine).
func (p *Participant) writePublisherRTCP(pkt rtcp.Packet) {
	if p.pub == nil {
		return
	}
	_ = p.pub.WriteRTCP([]rtcp.Packet{pkt})
}

// writeMedia drains the subscriber's queue when its connection is not
// inline (TCP, or not yet connected), until the participant stops.
func (p *Participant) writeMedia() {
	for {
		if p.inline.Load() {
			select {
			case <-p.stop:
				return
			case <-p.modeChanged:
			}
			continue
		}
		select {
		case <-p.stop:
			return
		case <-p.modeChanged:
		case <-p.queue.Ready():
			p.drain(nil)
		}
	}
}

// flush sends what is queued for p if its connection is inline; called by
// whoever just queued packets (a publisher's reader, an RTCP reader). out,
// when not nil, is the caller's batch: packets the edge encrypts itself go
// into it, and the caller sends it.
func (p *Participant) flush(out *mmsg.Batch) {
	if p.inline.Load() {
		p.drain(out)
	}
}

// drain sends everything queued, unless another goroutine is draining
// already (it will see the new packets: the check after releasing
// draining closes the gap). out is as for flush.
func (p *Participant) drain(out *mmsg.Batch) {
	var sent, direct int
	for p.draining.CompareAndSwap(false, true) {
		tags := *p.tags.Load()
		now := p.room.mgr.now() // one clock read a pass, not a packet
		var last *DownTrack     // a frame's packets share a tag: look it up once
		lastTag := uint32(0)
		for {
			// Sent from the queue's own slot: the holder of draining is the
			// queue's single consumer, and producers never overwrite a slot
			// before Advance.
			it, ok := p.queue.Front()
			if !ok {
				break
			}
			if last == nil || it.Tag != lastTag {
				last, lastTag = tags[it.Tag], it.Tag
			}
			if last != nil {
				if ok, d := last.send(it, now, out); ok {
					sent++
					if d {
						direct++
					}
				}
			}
			p.queue.Advance()
		}
		p.draining.Store(false)
		if p.queue.Len() == 0 {
			break
		}
	}
	if sent > 0 {
		// Counted per drain, not per packet: the counters are shared by
		// every fan-out.
		m := p.room.mgr.metrics
		m.packetsOut.Add(float64(sent))
		m.packetsDirect.Add(float64(direct))
	}
}

// setInline switches between sending from the producers (UDP) and from the
// writer goroutine (TCP).
func (p *Participant) setInline(on bool) {
	if p.inline.Swap(on) != on {
		select {
		case p.modeChanged <- struct{}{}:
		default:
		}
	}
}

// selectLayer chooses the layer d forwards from the subscriber's request,
// the layers the publisher sends and their bitrates (loop only). bind is
// true when the track was just negotiated.
func (p *Participant) selectLayer(d *DownTrack, bind bool) {
	if d.bound.Load() == nil || !p.subConnected {
		return
	}
	now := p.room.mgr.now()
	layer, wanted := 0, 0
	if d.req.Disabled {
		layer, wanted = -1, -1
	}
	if d.sel != nil {
		d.scratch = d.track.simLayers(now, d.scratch)
		wanted = simulcast.Wanted(d.scratch, d.req)
		layer = d.sel.Select(d.scratch, d.req, p.trackBudget(), now)
	}
	if wanted != d.wanted {
		d.wanted = wanted
		d.track.setDemand(p.sid, wanted)
	}
	if layer != d.fwd.Target() || bind {
		if bind && layer >= 0 && d.fwd.Current() < 0 && d.track.kind == webrtc.RTPCodecTypeVideo {
			p.prime(d, layer, now)
		}
		if d.fwd.SetTarget(layer) {
			d.track.keyframe(layer, now)
		}
	}
}

// prime starts a down track that has sent nothing yet from the newest
// keyframe in the packet cache of its layer or, failing that, of a lower
// layer (it then switches up at the next keyframe of its own, which
// selectLayer asks for): the subscriber sees a picture at once instead of
// after the publisher's answer to a keyframe request. A keyframe too old
// for the cache to replay from is no use (see forward.Forwarder.Prime).
// Loop only.
func (p *Participant) prime(d *DownTrack, layer int, now int64) {
	if p.primeBuf == nil {
		p.primeBuf = make([]byte, cache.DefaultMaxPacket)
	}
	for l := layer; l >= 0; l-- {
		d.fwd.SetTarget(l)
		if d.fwd.Prime(d.track.caches[:], p.primeBuf, now) > 0 {
			p.flush(nil)
			return
		}
	}
}

// trackBudget splits the subscriber's bandwidth estimate evenly across its
// video tracks, after what its audio tracks take (0: no estimate).
func (p *Participant) trackBudget() uint64 {
	est := p.estimate.Load()
	if est == 0 {
		return 0
	}
	video := 0
	for _, d := range p.downs {
		if d.track.kind == webrtc.RTPCodecTypeVideo {
			video++
		} else if est > audioBudget {
			est -= audioBudget
		}
	}
	return est / uint64(max(video, 1))
}
