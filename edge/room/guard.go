package room

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"
)

// What one participant may send and hold. A client past a rate has its
// excess dropped (and counted); one that keeps flooding past a second
// allowance is disconnected, so that it cannot fill the edge's memory or
// the other participants' queues.
const (
	// Signalling requests (every SignalRequest, pings included).
	signalRate, signalBurst = 50, 200
	// Data packets, and their bytes.
	dataRate, dataBurst           = 200, 400
	dataByteRate, dataByteBurst   = 1 << 20, 2 << 20
	floodDropRate, floodDropBurst = 50, 200 // drops tolerated before the disconnect
	// Own metadata updates (name, metadata, attributes).
	metadataRate, metadataBurst = 5, 10
	// A participant's info reaches the others at most this often after a
	// metadata update; updates in between are coalesced into the next
	// broadcast, which carries the newest info.
	infoBroadcastEvery = 250 * time.Millisecond

	maxNameBytes      = 256
	maxMetadataBytes  = 16 << 10
	maxAttributes     = 32
	maxAttributeBytes = 16 << 10 // keys and values of all attributes together
)

// Server-owned participant attributes. Participants may neither set nor
// remove them; the control plane puts them in the media token and
// moderators may change them through RoomService.
const (
	// ServerAttributePrefix starts every server-owned attribute
	// (compared without regard to case).
	ServerAttributePrefix = "spacecast."
	// RoleAttribute carries the participant's role (controlplane/grant).
	RoleAttribute = "spacecast.role"
	// RenameAttribute, "true" in a control-plane token, lets the
	// participant change its own name (the room's isSelfRenamingAllowed):
	// canUpdateOwnMetadata alone does not, since the control plane grants
	// it for hand raising too. Tokens without RoleAttribute (plain LiveKit
	// tokens) keep LiveKit's meaning: canUpdateOwnMetadata allows a rename.
	RenameAttribute = "spacecast.canRename"
)

// guard holds a participant's allowances. The limiters are safe from any
// goroutine; infoSentAt belongs to the participant's loop.
type guard struct {
	signal, signalDrops *rate.Limiter
	data, dataBytes     *rate.Limiter
	dataDrops           *rate.Limiter
	metadata            *rate.Limiter // loop only
	infoPending         atomic.Bool   // a coalesced broadcast is due
	infoSentAt          time.Time     // loop only
	flooded             atomic.Bool
}

func newGuard() *guard {
	return &guard{
		signal:      rate.NewLimiter(signalRate, signalBurst),
		signalDrops: rate.NewLimiter(floodDropRate, floodDropBurst),
		data:        rate.NewLimiter(dataRate, dataBurst),
		dataBytes:   rate.NewLimiter(dataByteRate, dataByteBurst),
		dataDrops:   rate.NewLimiter(floodDropRate, floodDropBurst),
		metadata:    rate.NewLimiter(metadataRate, metadataBurst),
	}
}

// AllowSignal reports whether the next signalling request from the client
// may be handled (any goroutine: the connection's reader asks before
// Deliver). A request beyond the rate is dropped and counted; a client that
// keeps flooding is disconnected.
func (p *Participant) AllowSignal() bool {
	if p.guard.signal.Allow() {
		return true
	}
	p.room.mgr.metrics.signalDropped.Inc()
	if !p.guard.signalDrops.Allow() {
		p.flood("signalling requests")
	}
	return false
}

// allowData is AllowSignal for a data packet of n bytes.
func (p *Participant) allowData(n int) bool {
	if p.guard.data.Allow() && p.guard.dataBytes.AllowN(time.Now(), n) {
		return true
	}
	p.room.mgr.metrics.dataDropped.Inc()
	if !p.guard.dataDrops.Allow() {
		p.flood("data packets")
	}
	return false
}

// flood disconnects a participant that keeps sending past its rate (once).
func (p *Participant) flood(what string) {
	if p.guard.flooded.Swap(true) {
		return
	}
	p.room.mgr.metrics.floodClosed.Inc()
	p.log.Warn("participant flooding the edge, disconnecting", "what", what)
	p.Close(livekit.DisconnectReason_STATE_MISMATCH)
}

// serverOwned reports whether an attribute key belongs to the server.
func serverOwned(key string) bool {
	return len(key) >= len(ServerAttributePrefix) && strings.EqualFold(key[:len(ServerAttributePrefix)], ServerAttributePrefix)
}

// mayRename reports whether the participant may change its own name.
func mayRename(info *livekit.ParticipantInfo) bool {
	if !info.GetPermission().GetCanUpdateMetadata() {
		return false
	}
	attrs := info.GetAttributes()
	if _, fromControlPlane := attrs[RoleAttribute]; !fromControlPlane {
		return true
	}
	return attrs[RenameAttribute] == "true"
}

// checkOwnUpdate says why a participant's own metadata update is refused
// (nil: it may be applied).
func checkOwnUpdate(info *livekit.ParticipantInfo, u *livekit.UpdateParticipantMetadata) (livekit.RequestResponse_Reason, error) {
	for k := range u.Attributes {
		if serverOwned(k) {
			return livekit.RequestResponse_NOT_ALLOWED, fmt.Errorf("attribute %q is set by the server", k)
		}
	}
	if u.Name != "" && u.Name != info.GetName() && !mayRename(info) {
		return livekit.RequestResponse_NOT_ALLOWED, fmt.Errorf("renaming yourself is not allowed in this room")
	}
	if len(u.Name) > maxNameBytes {
		return livekit.RequestResponse_LIMIT_EXCEEDED, fmt.Errorf("name over %d bytes", maxNameBytes)
	}
	if len(u.Metadata) > maxMetadataBytes {
		return livekit.RequestResponse_LIMIT_EXCEEDED, fmt.Errorf("metadata over %d bytes", maxMetadataBytes)
	}
	if len(u.Attributes) > 0 {
		n, size := 0, 0
		for k, v := range info.GetAttributes() {
			if nv, ok := u.Attributes[k]; ok {
				v = nv
			}
			if v != "" {
				n, size = n+1, size+len(k)+len(v)
			}
		}
		for k, v := range u.Attributes {
			if _, had := info.GetAttributes()[k]; !had && v != "" {
				n, size = n+1, size+len(k)+len(v)
			}
		}
		if n > maxAttributes || size > maxAttributeBytes {
			return livekit.RequestResponse_LIMIT_EXCEEDED, fmt.Errorf("attributes over %d entries or %d bytes", maxAttributes, maxAttributeBytes)
		}
	}
	return livekit.RequestResponse_OK, nil
}

// allowedDataKind reports whether a participant of kind may send a data
// packet carrying v: speaker updates are the server's; transcriptions and
// metrics are agents'; DTMF is SIP participants'.
func allowedDataKind(v any, kind livekit.ParticipantInfo_Kind) bool {
	switch v.(type) {
	case *livekit.DataPacket_User, *livekit.DataPacket_ChatMessage,
		*livekit.DataPacket_RpcRequest, *livekit.DataPacket_RpcAck, *livekit.DataPacket_RpcResponse,
		*livekit.DataPacket_StreamHeader, *livekit.DataPacket_StreamChunk, *livekit.DataPacket_StreamTrailer,
		*livekit.DataPacket_EncryptedPacket:
		return true
	case *livekit.DataPacket_Transcription, *livekit.DataPacket_Metrics:
		return kind == livekit.ParticipantInfo_AGENT
	case *livekit.DataPacket_SipDtmf:
		return kind == livekit.ParticipantInfo_SIP
	}
	return false
}

// kindMatchesSource reports whether a track of media type t may carry
// source: camera and screen share are video, microphone and screen-share
// audio are audio. A published track is held to the type it announced
// (onTrack), so a grant for the microphone never carries video.
func kindMatchesSource(t livekit.TrackType, source livekit.TrackSource) bool {
	switch source {
	case livekit.TrackSource_CAMERA, livekit.TrackSource_SCREEN_SHARE:
		return t == livekit.TrackType_VIDEO
	case livekit.TrackSource_MICROPHONE, livekit.TrackSource_SCREEN_SHARE_AUDIO:
		return t == livekit.TrackType_AUDIO
	}
	return false
}

// setOwnInfo applies a participant's own update: it sees it at once, the
// others through broadcastInfoSoon (loop only).
func (p *Participant) setOwnInfo(f func(*livekit.ParticipantInfo)) {
	n := proto.Clone(p.info.Load()).(*livekit.ParticipantInfo)
	f(n)
	n.Version++
	p.info.Store(n)
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: []*livekit.ParticipantInfo{n}}}})
	p.broadcastInfoSoon()
}

// broadcastInfoSoon tells the others p's info now, or, if it did less than
// infoBroadcastEvery ago, marks it due: the room's tick sends the newest
// info then (loop only).
func (p *Participant) broadcastInfoSoon() {
	now := time.Now()
	if now.Sub(p.guard.infoSentAt) >= infoBroadcastEvery {
		p.guard.infoSentAt = now
		p.guard.infoPending.Store(false)
		p.room.broadcast(p, p.Info())
		return
	}
	p.guard.infoPending.Store(true)
}

// flushInfo sends a coalesced broadcast that is due (loop only).
func (p *Participant) flushInfo() {
	if p.guard.infoPending.Swap(false) {
		p.guard.infoSentAt = time.Now()
		p.room.broadcast(p, p.Info())
	}
}
