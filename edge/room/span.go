package room

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/edge/relay"
)

// A room spans every edge that hosts it. Each edge tells the others, over
// the relay's control stream (topic spanTopic), about its own participants
// (their infos, tracks and codecs), data packets, active speakers and
// moderators' requests, and the connection quality of its participants;
// each edge pulls the tracks its own subscribers need from the edge of
// their publisher or its region's source of them (remote.go, pull.go,
// source.go) and serves its publishers' tracks, and as a regional source
// the tracks it pulls, to the others (origin.go). Which edges host a room comes from the
// gossip room directory (Config.Hosts); nothing else coordinates them.

// spanTopic is the relay application topic of room state.
const spanTopic = "room"

// Room state message kinds.
const (
	spanSync     = 1 // state: every participant of the sender, replacing what was known
	spanUpdate   = 2 // state: changed participants (DISCONNECTED: left)
	spanData     = 3 // livekit.DataPacket
	spanSpeakers = 4 // livekit.SpeakersChanged
	spanMute     = 5 // livekit.MuteRoomTrackRequest (for a participant of the receiver)
	spanRemove   = 6 // removal time (uvarint, Unix ns), then the identity
	// spanRecording: the sender's recording of the room (record.go), or a
	// stop for the receiver's.
	spanRecording = 7
	// spanQuality: livekit.ConnectionQualityUpdate, the sender's rating
	// of its own participants (quality.go).
	spanQuality = 8
)

// ErrSpan marks a room state message that does not parse.
var ErrSpan = errors.New("room: malformed room state message")

// spanState is the body of spanSync and spanUpdate.
type spanState struct {
	Participants [][]byte             `json:"p,omitempty"` // livekit.ParticipantInfo
	Codecs       map[string]spanCodec `json:"c,omitempty"` // by track sid
}

// spanCodec is what a relayed track's receiving edge needs of the
// publisher's codec: what the subscriber's connection negotiates, and the
// header extension ids the relayed packets carry.
type spanCodec struct {
	Mime     string `json:"m"`
	Clock    uint32 `json:"r"`
	Channels uint16 `json:"n,omitempty"`
	Fmtp     string `json:"f,omitempty"`
	Level    uint8  `json:"l,omitempty"`
}

func appendSpan(kind byte, room string, body []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(room)+len(body))
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(room)))
	b = append(b, room...)
	return append(b, body...)
}

func parseSpan(b []byte) (kind byte, room string, body []byte, err error) {
	if len(b) < 2 {
		return 0, "", nil, ErrSpan
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return 0, "", nil, ErrSpan
	}
	return b[0], string(b[1+k : 1+k+int(n)]), b[1+k+int(n):], nil
}

// AttachRelay joins this edge's rooms with the same rooms on other edges
// through r; hosts lists the other edges hosting a room (the gossip room
// directory, without this edge). Call it once, before the first join; the
// relay must be made with the Manager as its Origin and RelayMessage and
// RelayLink as its callbacks (see edge.New).
func (m *Manager) AttachRelay(r *relay.Relay, hosts func(room string) []string) {
	m.relay, m.hosts = r, hosts
}

// RelayMessage takes a room state message from another edge
// (relay.Config.OnMessage). It does not block.
func (m *Manager) RelayMessage(peer, topic string, payload []byte) {
	if topic != spanTopic {
		return
	}
	kind, name, body, err := parseSpan(payload)
	if err != nil {
		m.metrics.spanMalformed.Inc()
		return
	}
	r := m.Room(name)
	if r == nil {
		return // not hosted here (any more)
	}
	if err := r.onSpan(peer, kind, body); err != nil {
		m.metrics.spanMalformed.Inc()
		r.log.Debug("room state message refused", "peer", peer, "err", err)
	}
}

// RelayLink hears a link to another edge come up or go down
// (relay.Config.OnLink): a new link gets this edge's state of every room
// both host; the tracks pulled through a link that went down come from
// their origin.
func (m *Manager) RelayLink(peer string, up bool) {
	if m.hosts == nil {
		return
	}
	if !up {
		for _, r := range m.Rooms() {
			r.sourceDown(peer)
		}
		return
	}
	for _, r := range m.Rooms() {
		if slices.Contains(m.hosts(r.name), peer) {
			r.sendSync(peer)
		}
	}
}

// spanSend sends a room state message to every other edge hosting the
// room; an edge without a link up gets the state again when it comes up.
func (r *Room) spanSend(kind byte, body []byte) {
	m := r.mgr
	if m.relay == nil {
		return
	}
	r.mu.Lock()
	hosts := slices.Collect(mapKeys(r.holds))
	r.mu.Unlock()
	if len(hosts) == 0 {
		return
	}
	msg := appendSpan(kind, r.name, body)
	for _, h := range hosts {
		if err := m.relay.Send(h, spanTopic, msg); err != nil {
			m.metrics.spanUnsent.Inc()
		}
	}
}

func mapKeys[K comparable, V any](mp map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range mp {
			if !yield(k) {
				return
			}
		}
	}
}

// stateOf encodes participants' infos with their tracks' codecs.
func (r *Room) stateOf(infos []*livekit.ParticipantInfo) []byte {
	st := spanState{Codecs: map[string]spanCodec{}}
	for _, info := range infos {
		b, err := proto.Marshal(info)
		if err != nil {
			continue
		}
		st.Participants = append(st.Participants, b)
		for _, ti := range info.Tracks {
			if t := r.Track(ti.Sid); t != nil && t.owner != nil {
				if c := t.codec.Load(); c != nil {
					st.Codecs[ti.Sid] = spanCodec{Mime: c.MimeType, Clock: c.ClockRate, Channels: c.Channels, Fmtp: c.SDPFmtpLine, Level: t.levelExt}
				}
			}
		}
	}
	b, _ := json.Marshal(st) // plain strings, byte slices and numbers: cannot fail
	return b
}

// spanInfo tells the other edges a local participant's new info (r.broadcast).
func (r *Room) spanInfo(info *livekit.ParticipantInfo) {
	if r.mgr.relay == nil {
		return
	}
	r.spanSend(spanUpdate, r.stateOf([]*livekit.ParticipantInfo{info}))
}

// sendSync sends peer the state of every local participant.
func (r *Room) sendSync(peer string) {
	r.mu.Lock()
	ps := r.participantsLocked()
	r.mu.Unlock()
	infos := make([]*livekit.ParticipantInfo, 0, len(ps))
	for _, p := range ps {
		if !p.hidden {
			infos = append(infos, p.Info())
		}
	}
	if err := r.mgr.relay.Send(peer, spanTopic, appendSpan(spanSync, r.name, r.stateOf(infos))); err != nil {
		r.mgr.metrics.spanUnsent.Inc()
		return
	}
	// The recording this edge makes of the room, if any.
	if rec, ok := r.Recording(); ok && rec.Node == r.mgr.cfg.NodeID {
		if err := r.mgr.relay.Send(peer, spanTopic, appendSpan(spanRecording, r.name, r.recordingState())); err != nil {
			r.mgr.metrics.spanUnsent.Inc()
		}
	}
	// Who speaks now: the changes went out before this edge was a host.
	r.mu.Lock()
	sc := &livekit.SpeakersChanged{}
	for sid := range r.speaking {
		sc.Speakers = append(sc.Speakers, &livekit.SpeakerInfo{Sid: sid, Active: true, Level: 1})
	}
	r.mu.Unlock()
	if len(sc.Speakers) == 0 {
		return
	}
	if b, err := proto.Marshal(sc); err == nil {
		if err := r.mgr.relay.Send(peer, spanTopic, appendSpan(spanSpeakers, r.name, b)); err != nil {
			r.mgr.metrics.spanUnsent.Inc()
		}
	}
}

// spanHosts follows the room directory (the room's tick): a link is held to
// every other edge hosting the room, a new one gets this edge's state, and
// the participants of an edge that no longer hosts it (it left, or failed)
// leave.
func (r *Room) spanHosts() {
	m := r.mgr
	if m.relay == nil || m.hosts == nil {
		return
	}
	hosts := m.hosts(r.name)
	r.mu.Lock()
	var added []string
	for _, h := range hosts {
		if _, ok := r.holds[h]; !ok {
			added = append(added, h)
		}
	}
	var gone []string
	for h, release := range r.holds {
		if !slices.Contains(hosts, h) {
			gone = append(gone, h)
			release()
			delete(r.holds, h)
		}
	}
	for _, h := range added {
		release, err := m.relay.Hold(h)
		if err != nil {
			continue
		}
		r.holds[h] = release
	}
	r.mu.Unlock()
	for _, h := range added {
		if m.relay.Connected(h) {
			r.sendSync(h) // else RelayLink sends it once the link is up
		}
	}
	for _, h := range gone {
		r.dropNode(h)
	}
	r.updateSources(hosts)
}

// onSpan acts on one room state message from peer (the relay's goroutine).
func (r *Room) onSpan(peer string, kind byte, body []byte) error {
	switch kind {
	case spanSync, spanUpdate:
		var st spanState
		if err := json.Unmarshal(body, &st); err != nil {
			return fmt.Errorf("%w: %w", ErrSpan, err)
		}
		infos := make([]*livekit.ParticipantInfo, 0, len(st.Participants))
		for _, b := range st.Participants {
			info := &livekit.ParticipantInfo{}
			if err := proto.Unmarshal(b, info); err != nil || info.Identity == "" {
				return fmt.Errorf("%w: participant info", ErrSpan)
			}
			infos = append(infos, info)
		}
		r.applyRemote(peer, infos, st.Codecs, kind == spanSync)
	case spanData:
		pkt := &livekit.DataPacket{}
		if err := proto.Unmarshal(body, pkt); err != nil {
			return fmt.Errorf("%w: data packet", ErrSpan)
		}
		if !r.isRemoteOf(peer, pkt.ParticipantIdentity) && pkt.ParticipantIdentity != "" {
			return fmt.Errorf("%w: data from %q, not a participant of %s", ErrSpan, pkt.ParticipantIdentity, peer)
		}
		dest := pkt.DestinationIdentities
		if u := pkt.GetUser(); u != nil && len(dest) == 0 {
			//lint:ignore SA1019 livekit-client still fills and reads the user packet's own destinations
			dest = u.DestinationIdentities
		}
		//lint:ignore SA1019 livekit-client still sends and reads DataPacket.kind
		r.deliver(nil, body, pkt.Kind, dest)
	case spanSpeakers:
		sc := &livekit.SpeakersChanged{}
		if err := proto.Unmarshal(body, sc); err != nil {
			return fmt.Errorf("%w: speakers", ErrSpan)
		}
		r.mu.Lock()
		for _, sp := range sc.Speakers {
			for _, rp := range r.remote {
				if rp.node == peer && rp.info.Sid == sp.Sid {
					rp.speaking.Store(sp.Active) // its tracks' priority here
				}
			}
		}
		r.mu.Unlock()
		r.tellLocals(&livekit.SignalResponse{Message: &livekit.SignalResponse_SpeakersChanged{SpeakersChanged: sc}})
	case spanMute:
		req := &livekit.MuteRoomTrackRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			return fmt.Errorf("%w: mute", ErrSpan)
		}
		if p := r.Participant(req.Identity); p != nil {
			p.post(func() { p.moderatorMute(req.TrackSid, req.Muted) })
		}
	case spanRecording:
		return r.onSpanRecording(peer, body)
	case spanQuality:
		u := &livekit.ConnectionQualityUpdate{}
		if err := proto.Unmarshal(body, u); err != nil {
			return fmt.Errorf("%w: quality", ErrSpan)
		}
		r.takeRemoteQuality(peer, u.Updates)
	case spanRemove:
		at, n := binary.Uvarint(body)
		if n <= 0 || at > 1<<63-1 {
			return fmt.Errorf("%w: removal", ErrSpan)
		}
		if p := r.Participant(string(body[n:])); p != nil {
			r.RemoveAt(p, time.Unix(0, int64(at)))
		}
	default:
		return fmt.Errorf("%w: kind %d", ErrSpan, kind)
	}
	return nil
}

// tellLocals sends msg to every participant on this edge.
func (r *Room) tellLocals(msg *livekit.SignalResponse) {
	r.mu.Lock()
	ps := r.participantsLocked()
	r.mu.Unlock()
	for _, p := range ps {
		p.sendAsync(msg)
	}
}

// RemoveRemote asks the edge hosting identity to remove it (a moderator's
// removal made here); it reports false when identity is not a remote
// participant. gone is closed when that edge says it left. It waits for a
// link to that edge until ctx ends.
func (r *Room) RemoveRemote(ctx context.Context, identity string, at time.Time) (gone <-chan struct{}, ok bool, err error) {
	r.mu.Lock()
	rp := r.remote[identity]
	r.mu.Unlock()
	if rp == nil || r.mgr.relay == nil {
		return nil, false, nil
	}
	body := binary.AppendUvarint(nil, uint64(at.UnixNano()))
	body = append(body, identity...)
	if err := r.sendTo(ctx, rp.node, appendSpan(spanRemove, r.name, body)); err != nil {
		return nil, true, err
	}
	return rp.gone, true, nil
}

// sendTo sends a moderator's request to node, waiting until ctx ends for
// a link (one may be in the middle of replacing another).
func (r *Room) sendTo(ctx context.Context, node string, msg []byte) error {
	for {
		err := r.mgr.relay.Send(node, spanTopic, msg)
		if !errors.Is(err, relay.ErrNoLink) {
			return err
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("room: no link to %s: %w", node, ctx.Err())
		case <-t.C:
		}
	}
}

// MuteRemote asks the edge hosting identity to mute (or unmute) one of its
// tracks, and returns the track's info as it will be. It waits for a link
// to that edge until ctx ends.
func (r *Room) MuteRemote(ctx context.Context, identity, trackSID string, muted bool) (*livekit.TrackInfo, error) {
	r.mu.Lock()
	rp := r.remote[identity]
	var t *PubTrack
	if rp != nil {
		t = rp.tracks[trackSID]
	}
	r.mu.Unlock()
	if rp == nil || t == nil || r.mgr.relay == nil {
		return nil, fmt.Errorf("%w: track %q of %q", ErrNotFound, trackSID, identity)
	}
	b, err := proto.Marshal(&livekit.MuteRoomTrackRequest{Room: r.name, Identity: identity, TrackSid: trackSID, Muted: muted})
	if err != nil {
		return nil, fmt.Errorf("room: mute: %w", err)
	}
	if err := r.sendTo(ctx, rp.node, appendSpan(spanMute, r.name, b)); err != nil {
		return nil, err
	}
	info := proto.Clone(t.Info()).(*livekit.TrackInfo)
	info.Muted = muted
	return info, nil
}

// OtherHosts lists the other edges that host the room (the room
// directory); none on an edge without a relay.
func (r *Room) OtherHosts() []string {
	if r.mgr.hosts == nil {
		return nil
	}
	return r.mgr.hosts(r.name)
}
