package room

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/edge/relay"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// remotePart is a participant of the room on another edge, as that edge
// describes it, with its tracks relayed here.
type remotePart struct {
	node     string
	speaking atomic.Bool // its edge says it speaks (spanSpeakers)
	info     *livekit.ParticipantInfo
	tracks   map[string]*PubTrack // by sid
	gone     chan struct{}        // closed when it leaves the room here
	// quality is its connection quality as its edge last rated it (nil:
	// not yet); guarded by the room's mu.
	quality *livekit.ConnectionQualityInfo
}

// newRemoteTrack makes the relayed track of a remote participant: its
// media path, its relay subscription (pulling nothing until a subscriber
// here needs a layer) and the readers of its layers, which the room's
// WaitGroup owns. Called with r.mu held.
func (r *Room) newRemoteTrack(rp *remotePart, owner *livekit.ParticipantInfo, info *livekit.TrackInfo, c spanCodec) (*PubTrack, error) {
	node := rp.node
	if r.mgr.relay == nil {
		return nil, relay.ErrNoLink
	}
	kind := webrtc.RTPCodecTypeAudio
	if info.Type == livekit.TrackType_VIDEO {
		kind = webrtc.RTPCodecTypeVideo
	}
	layers := 1
	//lint:ignore SA1019 TrackInfo.simulcast, which the edge fills for livekit-client, says the track has layers
	if info.Simulcast {
		layers = maxLayers
	}
	t := &PubTrack{
		sid: info.Sid, ownerSID: owner.Sid, ownerIdentity: owner.Identity, speaking: &rp.speaking,
		//lint:ignore SA1019 TrackInfo.simulcast, which the edge fills for livekit-client, says the track has layers
		kind: kind, simulcast: info.Simulcast, levelExt: c.Level,
		demand: simulcast.NewDemand(layers), closed: make(chan struct{}),
	}
	mgr := r.mgr
	p := &pull{origin: node, room: r.name, sid: info.Sid, mgr: mgr, pt: t}
	codec := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: c.Mime, ClockRate: c.Clock, Channels: c.Channels, SDPFmtpLine: c.Fmtp}}
	if err := t.init(mgr, proto.Clone(info).(*livekit.TrackInfo), codec, layers, p); err != nil {
		return nil, err
	}
	p.track = t.media
	for q := range layers {
		p.streams[q] = relay.NewStream(0)
	}
	// The hosts as the last directory check saw them (r.mu is held: the
	// directory is not asked here).
	if err := p.start(r.sourceOf(node, slices.Collect(mapKeys(r.holds)))); err != nil {
		p.close()
		return nil, err
	}
	t.pull = p
	for q := range layers {
		l, err := t.media.AddLayer(q, 0, p.streams[q], c.Level)
		if err != nil {
			p.close()
			return nil, err
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			l.Run()
		}()
	}
	return t, nil
}

// applyRemote takes the infos an edge sent of its participants (full: all
// of them, the others left) and makes the room here match: participants
// appear, change and leave, their tracks are published and withdrawn here
// as relayed tracks, and the participants here are told as they are of
// each other.
func (r *Room) applyRemote(node string, infos []*livekit.ParticipantInfo, codecs map[string]spanCodec, full bool) {
	var changes []remoteChange
	var dup []*Participant
	seen := map[string]bool{}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	for _, info := range infos {
		seen[info.Identity] = true
		rp := r.remote[info.Identity]
		if info.State == livekit.ParticipantInfo_DISCONNECTED {
			if rp != nil && rp.node == node {
				changes = append(changes, r.dropRemoteLocked(rp))
			}
			continue
		}
		if p := r.participants[info.Identity]; p != nil {
			// The same identity here and there: the newer join wins (a
			// participant that reconnected to another edge).
			if p.Info().JoinedAtMs >= info.JoinedAtMs {
				continue
			}
			dup = append(dup, p)
		}
		if rp != nil && rp.node != node {
			changes = append(changes, r.dropRemoteLocked(rp))
			rp = nil
		}
		if rp == nil {
			rp = &remotePart{node: node, tracks: map[string]*PubTrack{}, gone: make(chan struct{})}
			r.remote[info.Identity] = rp
		} else if rp.info.Version > info.Version && rp.info.Sid == info.Sid {
			continue // an older state overtaken by a newer one
		}
		rp.info = info
		c := remoteChange{info: info}
		want := map[string]*livekit.TrackInfo{}
		for _, ti := range info.Tracks {
			want[ti.Sid] = ti
		}
		for sid, t := range rp.tracks {
			if want[sid] == nil {
				delete(rp.tracks, sid)
				delete(r.tracks, sid)
				c.gone = append(c.gone, t)
			}
		}
		for sid, ti := range want {
			if t := rp.tracks[sid]; t != nil {
				if t.Info().Muted != ti.Muted {
					t.updateInfo(func(i *livekit.TrackInfo) { i.Muted = ti.Muted })
				}
				continue
			}
			cd, ok := codecs[sid]
			if !ok || !strings.Contains(cd.Mime, "/") {
				continue // no codec: cannot be negotiated here
			}
			t, err := r.newRemoteTrack(rp, info, ti, cd)
			if err != nil {
				r.log.Warn("relayed track refused", "track", sid, "err", err)
				continue
			}
			rp.tracks[sid] = t
			r.tracks[sid] = t
			c.added = append(c.added, t)
		}
		changes = append(changes, c)
	}
	if full {
		for id, rp := range r.remote {
			if rp.node == node && !seen[id] {
				changes = append(changes, r.dropRemoteLocked(rp))
			}
		}
	}
	local := map[string]bool{}
	for _, c := range changes {
		if c.info.State == livekit.ParticipantInfo_DISCONNECTED && r.participants[c.info.Identity] != nil {
			// It left there because it is here now: nobody here is told
			// it left.
			local[c.info.Identity] = true
		}
	}
	r.mu.Unlock()
	for _, p := range dup {
		// It moved to another edge: the room is not told it left.
		p.replaced.Store(true)
		p.Close(livekit.DisconnectReason_DUPLICATE_IDENTITY)
	}
	for _, c := range changes {
		for _, t := range c.gone {
			r.withdraw(t)
		}
		for _, t := range c.added {
			r.publish(t)
		}
		if !c.info.Permission.GetHidden() && !local[c.info.Identity] {
			r.broadcastRemote(c.info)
		}
	}
}

// remoteChange is what applyRemote tells the room after unlocking.
type remoteChange struct {
	info  *livekit.ParticipantInfo
	added []*PubTrack
	gone  []*PubTrack
}

// dropRemoteLocked takes a remote participant out of the room; the caller
// withdraws the tracks and tells everyone after unlocking. Called with
// r.mu held.
func (r *Room) dropRemoteLocked(rp *remotePart) (c remoteChange) {
	delete(r.remote, rp.info.Identity)
	close(rp.gone)
	for sid, t := range rp.tracks {
		delete(r.tracks, sid)
		c.gone = append(c.gone, t)
	}
	info := proto.Clone(rp.info).(*livekit.ParticipantInfo)
	info.State = livekit.ParticipantInfo_DISCONNECTED
	info.Tracks = nil
	c.info = info
	return c
}

// withdraw unsubscribes everyone here from a relayed track and stops
// pulling it.
func (r *Room) withdraw(t *PubTrack) {
	r.unpublish(t)
	t.close()
	t.pull.close()
}

// dropNode takes out every participant of an edge that no longer hosts
// the room.
func (r *Room) dropNode(node string) {
	r.mu.Lock()
	var ids []string
	for id, rp := range r.remote {
		if rp.node == node {
			ids = append(ids, id)
		}
	}
	infos := make([]*livekit.ParticipantInfo, 0, len(ids))
	for _, id := range ids {
		infos = append(infos, &livekit.ParticipantInfo{Identity: id, State: livekit.ParticipantInfo_DISCONNECTED})
	}
	r.mu.Unlock()
	if len(infos) > 0 {
		r.applyRemote(node, infos, nil, false)
	}
	r.forgetRemoteRecording(node)
}

// dropAllRemote takes every remote participant out and releases the links
// (the room closes): their relayed tracks stop, and their readers with
// them.
func (r *Room) dropAllRemote() {
	r.mu.Lock()
	var changes []remoteChange
	for _, rp := range r.remote {
		changes = append(changes, r.dropRemoteLocked(rp))
	}
	holds := r.holds
	r.holds = map[string]func(){}
	r.mu.Unlock()
	for _, c := range changes {
		for _, t := range c.gone {
			r.withdraw(t)
		}
	}
	for _, release := range holds {
		release()
	}
}

// broadcastRemote tells every participant here a remote participant's new
// info.
func (r *Room) broadcastRemote(info *livekit.ParticipantInfo) {
	r.tellLocals(&livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: []*livekit.ParticipantInfo{info}}}})
}

// isRemoteOf reports whether identity is a participant of node.
func (r *Room) isRemoteOf(node, identity string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.remote[identity]
	return rp != nil && rp.node == node
}

// RemoteParticipants lists the infos of the room's participants on other
// edges.
func (r *Room) RemoteParticipants() []*livekit.ParticipantInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*livekit.ParticipantInfo, 0, len(r.remote))
	for _, rp := range r.remote {
		out = append(out, rp.info)
	}
	return out
}

// RemoteParticipant returns the info of a participant on another edge, or
// nil.
func (r *Room) RemoteParticipant(identity string) *livekit.ParticipantInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rp := r.remote[identity]; rp != nil {
		return rp.info
	}
	return nil
}

// updatePulls has every relayed track pull the layers its subscribers here
// need (the room's tick).
func (r *Room) updatePulls() {
	r.mu.Lock()
	var pulls []*pull
	var recorded []*PubTrack
	for _, t := range r.tracks {
		if t.pull != nil {
			pulls = append(pulls, t.pull)
			if t.recorded.Load() {
				recorded = append(recorded, t)
			}
		}
	}
	r.mu.Unlock()
	for _, t := range recorded {
		t.pull.record.Store(uint32(1) << r.recordLayer(t))
	}
	for _, p := range pulls {
		p.update()
	}
}
