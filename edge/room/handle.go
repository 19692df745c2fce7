package room

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/rtc"
	"github.com/spacecast/spacecast/edge/simulcast"
	"github.com/spacecast/spacecast/edge/token"
)

// handle runs one client request on the loop.
func (p *Participant) handle(req *livekit.SignalRequest) {
	switch m := req.Message.(type) {
	case *livekit.SignalRequest_Offer:
		p.onOffer(m.Offer)
	case *livekit.SignalRequest_Answer:
		p.onAnswer(m.Answer)
	case *livekit.SignalRequest_Trickle:
		p.onTrickle(m.Trickle)
	case *livekit.SignalRequest_AddTrack:
		p.onAddTrack(m.AddTrack)
	case *livekit.SignalRequest_Mute:
		p.onMute(m.Mute)
	case *livekit.SignalRequest_Subscription:
		p.onSubscription(m.Subscription)
	case *livekit.SignalRequest_TrackSetting:
		p.onTrackSettings(m.TrackSetting)
	case *livekit.SignalRequest_Leave:
		p.leaving = true
		p.Close(livekit.DisconnectReason_CLIENT_INITIATED)
	case *livekit.SignalRequest_Ping:
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Pong{Pong: time.Now().UnixMilli()}})
	case *livekit.SignalRequest_PingReq:
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_PongResp{PongResp: &livekit.Pong{
			LastPingTimestamp: m.PingReq.GetTimestamp(), Timestamp: time.Now().UnixMilli(),
		}}})
	case *livekit.SignalRequest_UpdateMetadata:
		p.onUpdateMetadata(m.UpdateMetadata)
	case *livekit.SignalRequest_SyncState, *livekit.SignalRequest_Simulate, *livekit.SignalRequest_UpdateLayers,
		*livekit.SignalRequest_SubscriptionPermission, *livekit.SignalRequest_UpdateAudioTrack,
		*livekit.SignalRequest_UpdateVideoTrack:
		// Accepted and not needed: every participant may subscribe to
		// every track of its room, and layers follow the received RIDs.
	default:
		p.room.mgr.metrics.signalErrors.Inc()
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			Reason: livekit.RequestResponse_UNSUPPORTED_TYPE, Message: "request not supported by this edge",
		}}})
	}
}

func (p *Participant) refuse(reason livekit.RequestResponse_Reason, msg string, fill func(*livekit.RequestResponse)) {
	p.room.mgr.metrics.signalErrors.Inc()
	rr := &livekit.RequestResponse{Reason: reason, Message: msg}
	if fill != nil {
		fill(rr)
	}
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: rr}})
}

func sdpType(t string) webrtc.SDPType { return webrtc.NewSDPType(t) }

func (p *Participant) onOffer(sd *livekit.SessionDescription) {
	if sdpType(sd.GetType()) != webrtc.SDPTypeOffer {
		p.refuse(livekit.RequestResponse_INVALID_REQUEST, "offer has type "+sd.GetType(), nil)
		return
	}
	if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sd.Sdp}); err != nil {
		p.log.Warn("publisher offer refused", "error", err)
		p.refuse(livekit.RequestResponse_INVALID_REQUEST, "offer refused: "+err.Error(), nil)
		return
	}
	rtc.PreferOfferedCodecs(p.pub, sd.Sdp, p.wantCodec)
	answer, err := p.pub.CreateAnswer(nil)
	if err == nil {
		err = p.pub.SetLocalDescription(answer)
	}
	if err != nil {
		p.log.Warn("publisher answer failed", "error", err)
		p.refuse(livekit.RequestResponse_UNCLASSIFIED_ERROR, "answer failed: "+err.Error(), nil)
		return
	}
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Answer{Answer: &livekit.SessionDescription{
		Type: "answer", Sdp: p.pub.LocalDescription().SDP, Id: sd.Id,
	}}})
	p.joinStage("answered", p.room.mgr.now())
	for _, c := range p.pubCandidates {
		_ = p.pub.AddICECandidate(c)
	}
	p.pubCandidates = nil
	if p.single && p.unplaced() {
		// Subscribed while this offer was on its way: ask for more
		// media sections.
		p.subDirty = true
		p.scheduleOffer()
	}
}

func (p *Participant) onAnswer(sd *livekit.SessionDescription) {
	if !p.subOffering || sdpType(sd.GetType()) != webrtc.SDPTypeAnswer {
		p.refuse(livekit.RequestResponse_INVALID_REQUEST, "answer without an outstanding offer", nil)
		return
	}
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sd.Sdp}); err != nil {
		p.log.Warn("subscriber answer refused", "error", err)
		p.refuse(livekit.RequestResponse_INVALID_REQUEST, "answer refused: "+err.Error(), nil)
		return
	}
	p.subOffering = false
	for _, c := range p.subCandidates {
		_ = p.sub.AddICECandidate(c)
	}
	p.subCandidates = nil
	if p.subDirty {
		p.scheduleOffer()
	}
}

func (p *Participant) onTrickle(t *livekit.TrickleRequest) {
	var c webrtc.ICECandidateInit
	if err := json.Unmarshal([]byte(t.CandidateInit), &c); err != nil {
		p.refuse(livekit.RequestResponse_INVALID_REQUEST, "candidate is not JSON", func(r *livekit.RequestResponse) {
			r.Request = &livekit.RequestResponse_Trickle{Trickle: t}
		})
		return
	}
	pc, buf := p.pub, &p.pubCandidates
	if t.Target == livekit.SignalTarget_SUBSCRIBER {
		pc, buf = p.sub, &p.subCandidates
	}
	if pc.RemoteDescription() == nil {
		if len(*buf) < candidateLimit {
			*buf = append(*buf, c)
		}
		return
	}
	if err := pc.AddICECandidate(c); err != nil {
		p.log.Debug("candidate refused", "error", err)
	}
}

func (p *Participant) onAddTrack(req *livekit.AddTrackRequest) {
	perm := p.Info().Permission
	source := req.Source
	if source == livekit.TrackSource_UNKNOWN {
		source = livekit.TrackSource_CAMERA
		if req.Type == livekit.TrackType_AUDIO {
			source = livekit.TrackSource_MICROPHONE
		}
	}
	if !kindMatchesSource(req.Type, source) {
		p.refuse(livekit.RequestResponse_INVALID_REQUEST, "a "+source.String()+" track cannot be "+req.Type.String(), func(r *livekit.RequestResponse) {
			r.Request = &livekit.RequestResponse_AddTrack{AddTrack: req}
		})
		return
	}
	if p.hidden || !token.CanPublishSource(perm, source) {
		p.refuse(livekit.RequestResponse_NOT_ALLOWED, "not allowed to publish "+source.String(), func(r *livekit.RequestResponse) {
			r.Request = &livekit.RequestResponse_AddTrack{AddTrack: req}
		})
		return
	}
	if req.Cid == "" || len(p.pending)+len(p.published) >= 32 {
		p.refuse(livekit.RequestResponse_INVALID_REQUEST, "track cid missing or too many tracks", func(r *livekit.RequestResponse) {
			r.Request = &livekit.RequestResponse_AddTrack{AddTrack: req}
		})
		return
	}
	info := p.pending[req.Cid]
	if t := p.byCID[req.Cid]; t != nil {
		info = t.Info()
	}
	if info == nil {
		info = &livekit.TrackInfo{
			Sid: newID("TR_"), Type: req.Type, Name: req.Name, Muted: req.Muted,
			//lint:ignore SA1019 livekit-client still sends AddTrackRequest.layers and reads TrackInfo.layers
			Width: req.Width, Height: req.Height, Source: source, Layers: req.Layers,
			//lint:ignore SA1019 livekit-client still reads TrackInfo.simulcast
			Simulcast: len(req.Layers) > 1 || len(req.SimulcastCodecs) > 0 && len(req.Layers) > 1,
			//lint:ignore SA1019 livekit-client still sends disableDtx and stereo, and reads them back in TrackInfo
			DisableDtx: req.DisableDtx, Stereo: req.Stereo, Encryption: req.Encryption, Stream: req.Stream,
			AudioFeatures: req.AudioFeatures, BackupCodecPolicy: req.BackupCodecPolicy,
		}
		// The codec the client chose (livekit-client asks for VP9/AV1/H.264
		// this way and sends whatever the answer lists first).
		for _, sc := range req.SimulcastCodecs {
			if sc.Codec == "" {
				continue
			}
			if mime := rtc.VideoMime(sc.Codec); mime != "" {
				p.wantCodec[req.Cid] = mime
				info.Codecs = append(info.Codecs, &livekit.SimulcastCodecInfo{MimeType: mime, Cid: req.Cid, Layers: req.Layers})
			}
			break
		}
		// Opus in RED (RFC 2198): each packet carries the previous
		// frames too, so a subscriber conceals a lost packet from the
		// next one. livekit-client leaves the choice to the server
		// (disable_red false unless the track is stereo or encrypted)
		// and Chromium offers RED after Opus, so the answer puts it
		// first; subscribers that cannot take RED get its primary
		// encoding (rtc.SubscriberCodecs).
		if req.Type == livekit.TrackType_AUDIO && !req.DisableRed && req.Encryption == livekit.Encryption_NONE {
			p.wantCodec[req.Cid] = rtc.MimeRED
		}
		p.pending[req.Cid] = info
	}
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_TrackPublished{TrackPublished: &livekit.TrackPublishedResponse{Cid: req.Cid, Track: info}}})
}

func (p *Participant) onMute(m *livekit.MuteTrackRequest) {
	if t := p.published[m.Sid]; t != nil {
		p.muteTrack(t, m.Muted)
		return
	}
	for _, info := range p.pending {
		if info.Sid == m.Sid {
			info.Muted = m.Muted
			return
		}
	}
	p.refuse(livekit.RequestResponse_NOT_FOUND, "no such track "+m.Sid, func(r *livekit.RequestResponse) {
		r.Request = &livekit.RequestResponse_Mute{Mute: m}
	})
}

func (p *Participant) muteTrack(t *PubTrack, muted bool) {
	if t.Info().Muted == muted {
		return
	}
	t.updateInfo(func(i *livekit.TrackInfo) { i.Muted = muted })
	p.setInfo(p.syncTracks)
	if !muted {
		for q := 0; q < maxLayers; q++ {
			t.keyframe(q, p.room.mgr.now())
		}
	}
}

// call runs f on the loop and waits for it.
func (p *Participant) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	if !p.post(func() { f(); close(done) }) {
		return ErrNotFound
	}
	select {
	case <-done:
		return nil
	case <-p.done:
		return fmt.Errorf("%w: participant left", ErrNotFound)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MuteTrack is a moderator's mute of one of p's tracks: the publisher is
// told (so it stops sending) and everyone sees the track muted.
func (p *Participant) MuteTrack(ctx context.Context, sid string, muted bool) (*livekit.TrackInfo, error) {
	var info *livekit.TrackInfo
	err := p.call(ctx, func() { info = p.moderatorMute(sid, muted) })
	if err == nil && info == nil {
		err = fmt.Errorf("%w: track %q", ErrNotFound, sid)
	}
	return info, err
}

// UpdateSubscriptions subscribes p to tracks, or unsubscribes it, on a
// server's behalf (RoomService.UpdateSubscriptions): the same as p's own
// UpdateSubscription, including the SubscriptionResponse errors p is sent
// for tracks that are not live or that it may not subscribe to.
func (p *Participant) UpdateSubscriptions(ctx context.Context, trackSids []string, tracks []*livekit.ParticipantTracks, subscribe bool) error {
	u := &livekit.UpdateSubscription{TrackSids: trackSids, ParticipantTracks: tracks, Subscribe: subscribe}
	return p.call(ctx, func() { p.onSubscription(u) })
}

// Update changes name, metadata, attributes or permission (RoomService) and
// returns the new info.
func (p *Participant) Update(ctx context.Context, name, metadata *string, attrs map[string]string, perm *livekit.ParticipantPermission) (*livekit.ParticipantInfo, error) {
	err := p.call(ctx, func() {
		p.setInfo(func(i *livekit.ParticipantInfo) {
			if name != nil {
				i.Name = *name
			}
			if metadata != nil {
				i.Metadata = *metadata
			}
			if len(attrs) > 0 {
				mergeAttrs(i, attrs)
			}
			if perm != nil {
				i.Permission = perm
			}
		})
		if perm != nil && !perm.CanSubscribe {
			for sid := range p.downs {
				p.unsubscribe(sid)
			}
		}
		if perm != nil && !perm.CanPublish {
			for sid := range p.published {
				p.unpublish(sid)
			}
		}
	})
	return p.Info(), err
}

func mergeAttrs(i *livekit.ParticipantInfo, attrs map[string]string) {
	n := make(map[string]string, len(i.Attributes)+len(attrs))
	for k, v := range i.Attributes {
		n[k] = v
	}
	for k, v := range attrs {
		if v == "" {
			delete(n, k)
		} else {
			n[k] = v
		}
	}
	i.Attributes = n
}

func (p *Participant) onUpdateMetadata(u *livekit.UpdateParticipantMetadata) {
	refuse := func(reason livekit.RequestResponse_Reason, msg string) {
		p.room.mgr.metrics.metadataRefused.Inc()
		p.refuse(reason, msg, func(r *livekit.RequestResponse) {
			r.RequestId = u.RequestId
			r.Request = &livekit.RequestResponse_UpdateMetadata{UpdateMetadata: u}
		})
	}
	info := p.Info()
	if !info.Permission.GetCanUpdateMetadata() {
		refuse(livekit.RequestResponse_NOT_ALLOWED, "canUpdateOwnMetadata not granted")
		return
	}
	if !p.guard.metadata.Allow() {
		refuse(livekit.RequestResponse_LIMIT_EXCEEDED, "metadata updates too frequent")
		return
	}
	if reason, err := checkOwnUpdate(info, u); err != nil {
		refuse(reason, err.Error())
		return
	}
	p.setOwnInfo(func(i *livekit.ParticipantInfo) {
		if u.Name != "" {
			i.Name = u.Name
		}
		if u.Metadata != "" {
			i.Metadata = u.Metadata
		}
		if len(u.Attributes) > 0 {
			mergeAttrs(i, u.Attributes)
		}
	})
	if u.RequestId != 0 {
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			RequestId: u.RequestId, Reason: livekit.RequestResponse_OK,
		}}})
	}
}

func (p *Participant) onSubscription(u *livekit.UpdateSubscription) {
	sids := append([]string(nil), u.TrackSids...)
	for _, pt := range u.ParticipantTracks {
		sids = append(sids, pt.TrackSids...)
	}
	for _, sid := range sids {
		if !u.Subscribe {
			delete(p.wanted, sid)
			p.unsubscribe(sid)
			continue
		}
		t := p.room.Track(sid)
		switch {
		case t == nil:
			// Not live (yet): say so, and subscribe if it starts (a track
			// is live once its media arrives, a little after its
			// TrackPublished).
			if len(p.wanted) < wantedLimit {
				p.wanted[sid] = true
			}
			p.subscriptionError(sid, livekit.SubscriptionError_SE_TRACK_NOTFOUND)
		case !p.Info().Permission.GetCanSubscribe():
			p.room.mgr.metrics.signalErrors.Inc()
			p.subscriptionError(sid, livekit.SubscriptionError_SE_UNKNOWN)
		default:
			p.subscribe(t)
		}
	}
}

func (p *Participant) subscriptionError(sid string, e livekit.SubscriptionError) {
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscriptionResponse{SubscriptionResponse: &livekit.SubscriptionResponse{
		TrackSid: sid, Err: e,
	}}})
}

func (p *Participant) onTrackSettings(s *livekit.UpdateTrackSettings) {
	for _, sid := range s.TrackSids {
		d := p.downs[sid]
		if d == nil {
			continue
		}
		req := simulcast.Request{Disabled: s.Disabled, Quality: s.Quality, Width: s.Width, Height: s.Height}
		if req != d.req {
			d.req, d.fresh = req, true
		}
	}
	p.allocate()
}

// Unpublish withdraws one of p's tracks (RoomService or client).
func (p *Participant) unpublish(sid string) {
	t := p.published[sid]
	if t == nil {
		return
	}
	delete(p.published, sid)
	for cid, x := range p.byCID {
		if x == t {
			delete(p.byCID, cid)
		}
	}
	p.room.unpublish(t)
	t.close()
	p.setInfo(p.syncTracks)
	p.room.mgr.cfg.Observer.TrackUnpublished(p.room.Proto(), p.Info(), t.Info())
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_TrackUnpublished{TrackUnpublished: &livekit.TrackUnpublishedResponse{TrackSid: sid}}})
}
