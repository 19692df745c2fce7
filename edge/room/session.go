package room

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/edge/signal"
)

// The signalling session's life on the participant's loop: attach (a join
// or a resume), state changes, detach.

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
		if p.single {
			return // the client offers again, restarting ICE
		}
		// An offer in flight when the connection dropped is lost: make
		// a new one, restarting ICE.
		p.subOffering = false
		p.iceRestart = true
		p.subDirty = true
		p.scheduleOffer()
		return
	}
	p.joinStarted = p.room.mgr.now()
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
	p.subPrimary = perm.GetCanSubscribe() && !p.single
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
