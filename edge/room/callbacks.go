package room

import (
	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

// Data channel labels LiveKit clients use.
const (
	reliableLabel = "_reliable"
	lossyLabel    = "_lossy"
	maxDataPacket = 64 << 10
)

// wireCallbacks routes pion's callbacks into the mailbox.
func (p *Participant) wireCallbacks() {
	trickle := func(target livekit.SignalTarget) func(*webrtc.ICECandidate) {
		return func(c *webrtc.ICECandidate) {
			if c == nil {
				return
			}
			init := c.ToJSON()
			b, err := jsonCandidate(init)
			if err != nil {
				return
			}
			p.sendAsync(&livekit.SignalResponse{Message: &livekit.SignalResponse_Trickle{Trickle: &livekit.TrickleRequest{
				CandidateInit: b, Target: target,
			}}})
		}
	}
	p.pub.OnICECandidate(trickle(livekit.SignalTarget_PUBLISHER))
	if !p.single { // one connection: its candidates are the publisher's
		p.sub.OnICECandidate(trickle(livekit.SignalTarget_SUBSCRIBER))
	}
	if sctp := p.sub.SCTP(); sctp != nil {
		sctp.Transport().ICETransport().OnSelectedCandidatePairChange(func(pair *webrtc.ICECandidatePair) {
			p.sink.SetInline(pair != nil && pair.Local != nil && pair.Local.Protocol == webrtc.ICEProtocolUDP)
			if p.direct != nil {
				p.routeDirect(pair)
			}
		})
		if p.direct != nil {
			sctp.Transport().OnStateChange(func(s webrtc.DTLSTransportState) {
				if s != webrtc.DTLSTransportStateConnected {
					return
				}
				// Called with the transport's lock held: derive the keys
				// only.
				if err := p.direct.Connected(); err != nil {
					p.log.Debug("subscriber RTP stays on pion's write path", "err", err)
				}
			})
		}
	}
	p.sub.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		// Media written before DTLS is up is lost, the first keyframe
		// with it: down tracks start (and ask for keyframes) only once
		// the connection can carry them.
		connected := s == webrtc.PeerConnectionStateConnected
		p.post(func() {
			was := p.subConnected
			p.subConnected = connected
			if connected && !was {
				p.joinStage("connected", p.room.mgr.now())
				p.allocate()
			}
		})
	})
	p.pub.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			p.post(func() { p.setState(livekit.ParticipantInfo_ACTIVE) })
		}
	})
	p.pub.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		p.post(func() { p.onTrack(remote, recv) })
	})
	p.pub.OnDataChannel(func(dc *webrtc.DataChannel) {
		var kind livekit.DataPacket_Kind
		switch dc.Label() {
		case reliableLabel:
			kind = livekit.DataPacket_RELIABLE
		case lossyLabel:
			kind = livekit.DataPacket_LOSSY
		default:
			return
		}
		dc.OnOpen(func() {
			p.post(func() {
				cur := p.dcs.Load()
				n := &dataChannels{}
				if cur != nil {
					*n = *cur
				}
				if kind == livekit.DataPacket_RELIABLE {
					n.reliable = dc
				} else {
					n.lossy = dc
				}
				p.dcs.Store(n)
			})
		})
		dc.OnMessage(func(m webrtc.DataChannelMessage) { p.onData(kind, m) })
	})
}

func qualityOfRID(rid string) int {
	switch rid {
	case "q":
		return 0
	case "h":
		return 1
	case "f":
		return 2
	}
	return 0
}

// onTrack binds a received track (layer) to an announced AddTrack request
// and starts forwarding it. Tracks nobody announced (or that the
// participant may not publish) are never read.
func (p *Participant) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	cid := remote.ID()
	t := p.byCID[cid]
	if t == nil {
		info := p.pending[cid]
		if info == nil {
			// Clients whose msid differs from the cid: take the oldest
			// pending request of the same kind.
			want := livekit.TrackType_AUDIO
			if remote.Kind() == webrtc.RTPCodecTypeVideo {
				want = livekit.TrackType_VIDEO
			}
			for c, i := range p.pending {
				if i.Type == want {
					cid, info = c, i
					break
				}
			}
		}
		if info == nil {
			p.log.Warn("media for a track that was never announced", "msid", remote.ID())
			p.room.mgr.metrics.signalErrors.Inc()
			return
		}
		if (info.Type == livekit.TrackType_VIDEO) != (remote.Kind() == webrtc.RTPCodecTypeVideo) {
			// Announced as audio (say a microphone), sent as video: never read.
			p.log.Warn("track refused: its media kind differs from the announced one", "msid", remote.ID(),
				"announced", info.Type.String(), "kind", remote.Kind().String())
			p.room.mgr.metrics.signalErrors.Inc()
			return
		}
		delete(p.pending, cid)
		info = proto.Clone(info).(*livekit.TrackInfo)
		info.MimeType = remote.Codec().MimeType
		if remote.RID() != "" {
			//lint:ignore SA1019 livekit-client still reads TrackInfo.simulcast
			info.Simulcast = true
		}
		var err error
		if t, err = newPubTrack(p, info, remote); err != nil {
			p.log.Warn("track refused", "error", err)
			return
		}
		p.byCID[cid] = t
	}
	var levelExt uint8
	if remote.Kind() == webrtc.RTPCodecTypeAudio {
		for _, e := range recv.GetParameters().HeaderExtensions {
			if e.URI == audioLevelURI {
				levelExt = uint8(e.ID)
			}
		}
	}
	t.levelExt = levelExt
	l, err := t.media.AddLayer(qualityOfRID(remote.RID()), uint32(remote.SSRC()), remote, levelExt)
	if err != nil {
		return // a layer already received (or beyond the track's)
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		l.Run()
		// The publisher removed the track (or the connection closed).
		p.post(func() { p.unpublish(t.sid) })
	}()
	go func() {
		defer p.wg.Done()
		readSenderReports(recv, remote.RID(), l.Quality(), t)
	}()
	if p.published[t.sid] == nil {
		p.announce(t)
		p.room.mgr.cfg.Observer.TrackPublished(p.room.Proto(), p.Info(), t.Info())
		p.log.Info("track published", "track", t.sid, "kind", remote.Kind().String(), "codec", remote.Codec().MimeType)
	}
	t.keyframe(l.Quality(), p.room.mgr.now())
}

// announce publishes t, a track of p whose first layer arrived. The room
// knows the track before p's new info announces it: the room's other
// edges, told of that info at once, relay only a track whose codec the
// state carries, and the state takes it from the room's tracks (a track
// announced before the room knew it crossed to no other edge until p's
// info changed again: a participant's last published track was never
// relayed). The subscribers here get it after they have heard of it.
// (Loop only.)
func (p *Participant) announce(t *PubTrack) {
	p.published[t.sid] = t
	p.room.addTrack(t)
	p.setInfo(p.syncTracks)
	p.room.publish(t)
}

// readSenderReports reads the RTCP of one received layer until the
// receiver stops, and gives the track the publisher's sender reports: its
// forwarders map timestamps across layer switches with them, and the
// edges it is relayed to get them too.
func readSenderReports(recv *webrtc.RTPReceiver, rid string, q int, t *PubTrack) {
	for {
		var pkts []rtcp.Packet
		var err error
		if rid != "" {
			pkts, _, err = recv.ReadSimulcastRTCP(rid)
		} else {
			pkts, _, err = recv.ReadRTCP()
		}
		if err != nil {
			return
		}
		for _, pk := range pkts {
			if sr, ok := pk.(*rtcp.SenderReport); ok {
				t.media.SenderReport(q, sr.NTPTime, sr.RTPTime)
			}
		}
	}
}

// onData routes a data packet from p (pion's goroutine). The sender's
// identity is set by the edge, never trusted from the client.
func (p *Participant) onData(kind livekit.DataPacket_Kind, m webrtc.DataChannelMessage) {
	metrics := p.room.mgr.metrics
	metrics.dataIn.Inc()
	if !p.allowData(len(m.Data)) {
		return
	}
	info := p.Info()
	if !info.Permission.GetCanPublishData() || len(m.Data) > maxDataPacket || m.IsString {
		metrics.dataDenied.Inc()
		return
	}
	pkt := &livekit.DataPacket{}
	if err := proto.Unmarshal(m.Data, pkt); err != nil || !allowedDataKind(pkt.Value, info.Kind) {
		// Malformed, or a kind only the server (speaker updates), an
		// agent or a SIP participant sends.
		metrics.dataDenied.Inc()
		return
	}
	pkt.ParticipantIdentity = info.Identity
	pkt.ParticipantSid = info.Sid
	dest := pkt.DestinationIdentities
	if u := pkt.GetUser(); u != nil {
		//lint:ignore SA1019 livekit-client still fills and reads the user packet's own identity, sid and destinations
		u.ParticipantIdentity = info.Identity
		//lint:ignore SA1019 livekit-client still fills and reads the user packet's own identity, sid and destinations
		u.ParticipantSid = info.Sid
		if len(dest) == 0 {
			//lint:ignore SA1019 livekit-client still fills and reads the user packet's own identity, sid and destinations
			dest = u.DestinationIdentities
		}
	}
	//lint:ignore SA1019 livekit-client still sends and reads DataPacket.kind
	pkt.Kind = kind
	p.room.route(p, pkt, kind, dest)
}

// sendData writes an encoded data packet to p's data channel of kind (any
// goroutine).
func (p *Participant) sendData(kind livekit.DataPacket_Kind, b []byte) {
	dcs := p.subDCs.Load()
	if dcs == nil {
		dcs = p.dcs.Load()
	}
	if dcs == nil {
		p.room.mgr.metrics.dataUndelivered.Inc()
		return
	}
	dc := dcs.reliable
	if kind == livekit.DataPacket_LOSSY && dcs.lossy != nil {
		dc = dcs.lossy
	}
	if dc == nil || dc.Send(b) != nil {
		p.room.mgr.metrics.dataUndelivered.Inc()
	}
}

// routeDirect points the edge's own SRTP path at the subscriber
// connection's newly selected pair. A pair it cannot use (ICE-TCP) sends
// the subscriber's RTP back through pion, whose SRTP state has not seen the
// packets the edge sent itself and would encrypt with the wrong rollover
// counter once a stream's sequence numbers have wrapped; such a subscriber
// is asked to reconnect in full, which starts new SRTP state.
func (p *Participant) routeDirect(pair *webrtc.ICECandidatePair) {
	if err := p.direct.SetPair(pair); err != nil {
		p.log.Debug("subscriber RTP on pion's write path", "err", err)
	}
	if !p.direct.Ready() && p.direct.Used() {
		p.log.Info("subscriber moved off the UDP path the edge sent on; asking for a full reconnect")
		p.reconnect(livekit.DisconnectReason_STATE_MISMATCH)
	}
}
