package room

import (
	"fmt"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/rtc"
)

// subscribe forwards t to p (loop only).
func (p *Participant) subscribe(t *PubTrack) {
	if t.owner == p || p.downs[t.sid] != nil || !p.Info().Permission.GetCanSubscribe() {
		return
	}
	select {
	case <-t.closed:
		return
	default:
	}
	d, err := newDownTrack(t, p)
	if err != nil {
		p.log.Warn("subscribe failed", "track", t.sid, "error", err)
		return
	}
	tr, err := p.addSender(d)
	if err != nil {
		d.close()
		p.log.Warn("subscribe failed", "track", t.sid, "error", err)
		return
	}
	if c := t.codec.Load(); c != nil {
		_ = tr.SetCodecPreferences(p.subAPI().Codecs(*c))
	}
	d.sender = tr.Sender()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		d.readRTCP()
	}()
	p.downs[t.sid] = d
	p.subDirty = true
	p.scheduleOffer()
}

// subAPI is the API the participant's sending connection was made with.
func (p *Participant) subAPI() *rtc.SubAPI {
	if p.single {
		return p.room.mgr.cfg.SingleAPI
	}
	return p.room.mgr.cfg.SubAPI
}

// unsubscribe stops forwarding a track (loop only).
func (p *Participant) unsubscribe(sid string) {
	if p.downs[sid] == nil {
		return
	}
	p.dropDown(sid)
	p.subDirty = true
	p.scheduleOffer()
}

func (p *Participant) dropDown(sid string) {
	d := p.downs[sid]
	delete(p.downs, sid)
	d.close()
	if d.sender != nil {
		_ = p.sub.RemoveTrack(d.sender)
	}
}

// scheduleOffer negotiates the subscriber side once the requests already
// queued have run (a join that subscribes to ten tracks negotiates once):
// an offer on the subscriber connection, or on a single connection a
// MediaSectionsRequirement that has the client offer.
func (p *Participant) scheduleOffer() {
	if p.subScheduled {
		return
	}
	p.subScheduled = true
	p.post(func() {
		p.subScheduled = false
		if p.single {
			p.requestSections()
			return
		}
		p.offer()
	})
}

// addSender adds d to the connection that sends to the subscriber: its
// own sendonly transceiver on a subscriber connection; on a single
// connection, a transceiver of the client's recvonly media sections when
// one is free (pion's AddTrack), else a new one that the client's next
// offer gives a media section (requestSections).
func (p *Participant) addSender(d *DownTrack) (*webrtc.RTPTransceiver, error) {
	if !p.single {
		return p.sub.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	}
	sender, err := p.sub.AddTrack(d)
	if err != nil {
		return nil, err
	}
	for _, tr := range p.sub.GetTransceivers() {
		if tr.Sender() == sender {
			return tr, nil
		}
	}
	return nil, fmt.Errorf("room: no transceiver for the sender of %s", d.track.sid)
}

// requestSections asks a single-connection client (livekit-client's
// /rtc/v1) to offer again, with as many more recvonly media sections of
// each kind as the edge has tracks waiting for one (MediaSectionsRequirement;
// zero of each to renegotiate a changed or removed track): the client is
// the offerer there, and the edge answers (loop only).
func (p *Participant) requestSections() {
	if !p.subDirty || p.conn == nil {
		return
	}
	audio, video := p.unplacedCounts()
	p.subDirty = false
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_MediaSectionsRequirement{
		MediaSectionsRequirement: &livekit.MediaSectionsRequirement{NumAudios: audio, NumVideos: video},
	}})
}

func (p *Participant) offer() {
	if !p.subDirty || p.subOffering || p.conn == nil {
		return
	}
	if len(p.sub.GetTransceivers()) == 0 && p.sub.RemoteDescription() == nil && !p.subPrimary {
		p.subDirty = false
		return
	}
	var opts *webrtc.OfferOptions
	if p.iceRestart {
		opts = &webrtc.OfferOptions{ICERestart: true}
	}
	o, err := p.sub.CreateOffer(opts)
	if err == nil {
		err = p.sub.SetLocalDescription(o)
	}
	if err != nil {
		p.log.Warn("subscriber offer failed", "error", err)
		return
	}
	p.iceRestart = false
	p.subDirty = false
	p.subOffering = true
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Offer{Offer: &livekit.SessionDescription{
		Type: "offer", Sdp: p.sub.LocalDescription().SDP,
	}}})
	p.joinStage("answered", p.room.mgr.now())
}

// unplacedCounts counts the single connection's senders that no media
// section carries yet, by kind.
func (p *Participant) unplacedCounts() (audio, video uint32) {
	for _, tr := range p.sub.GetTransceivers() {
		if tr.Mid() != "" || tr.Sender() == nil || tr.Sender().Track() == nil {
			continue
		}
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			audio++
		} else {
			video++
		}
	}
	return audio, video
}

// unplaced reports whether a sender waits for a media section.
func (p *Participant) unplaced() bool {
	a, v := p.unplacedCounts()
	return a+v > 0
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
	pkts := p.sink.SenderReports(p.room.mgr.now(), time.Now(), nil)
	for len(pkts) > 0 {
		n := min(len(pkts), reportsPerPacket)
		_ = p.sub.WriteRTCP(pkts[:n])
		pkts = pkts[n:]
	}
}
