package grant

import (
	"fmt"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/spacecast/spacecast/controlplane/store"
)

// Role is a participant's role in a call.
type Role string

// Roles of the join answer.
const (
	RoleOwner       Role = "owner"
	RoleModerator   Role = "moderator"
	RoleParticipant Role = "participant"
	RoleViewer      Role = "viewer"
)

// Track sources, as LiveKit names them in canPublishSources.
const (
	SourceCamera           = "camera"
	SourceMicrophone       = "microphone"
	SourceScreenShare      = "screen_share"
	SourceScreenShareAudio = "screen_share_audio"
)

// InRoom returns the role a participant has in a room of type t: in a
// webinar, a participant only watches.
func InRoom(r Role, t store.RoomType) Role {
	if r == RoleParticipant && t == store.RoomTypeWebinar {
		return RoleViewer
	}
	return r
}

// Grants are the permissions of one participant, in the join answer's JSON
// form.
type Grants struct {
	CanPublish           bool     `json:"canPublish"`
	CanPublishSources    []string `json:"canPublishSources"`
	CanSubscribe         bool     `json:"canSubscribe"`
	CanPublishData       bool     `json:"canPublishData"`
	CanUpdateOwnMetadata bool     `json:"canUpdateOwnMetadata"`
	// CanRename: the participant may change its own name (the room's
	// isSelfRenamingAllowed; moderators always). canUpdateOwnMetadata
	// alone does not say it, since hand raising needs it too; the media
	// token carries it as RenameAttribute, which the edge enforces.
	CanRename bool `json:"canRename"`
	RoomAdmin bool `json:"roomAdmin"`
	Hidden    bool `json:"hidden"`
	// CanRecord: the participant may start and stop the room's recording
	// (owners and moderators of a room with isRecordAllowed): LiveKit's
	// roomRecord grant, which the edge's Egress service asks for.
	CanRecord bool `json:"canRecord"`
}

// For derives the grants of role in a room of type t with flags f. The role
// is first passed through InRoom.
func For(role Role, t store.RoomType, f store.RoomFlags) Grants {
	role = InRoom(role, t)
	g := Grants{CanSubscribe: true, CanPublishSources: []string{}}
	switch role {
	case RoleOwner, RoleModerator:
		g.CanPublishSources = []string{SourceCamera, SourceMicrophone, SourceScreenShare, SourceScreenShareAudio}
		g.CanPublishData = true
		g.CanUpdateOwnMetadata = true
		g.CanRename = true
		g.RoomAdmin = true
		g.CanRecord = f.IsRecordAllowed
	case RoleParticipant:
		if f.IsCameraPublishingAllowed {
			g.CanPublishSources = append(g.CanPublishSources, SourceCamera)
		}
		if f.IsMicrophonePublishingAllowed {
			g.CanPublishSources = append(g.CanPublishSources, SourceMicrophone)
		}
		if f.IsScreensharingAllowed {
			g.CanPublishSources = append(g.CanPublishSources, SourceScreenShare)
			if f.IsScreenMediaPublishingAllowed {
				g.CanPublishSources = append(g.CanPublishSources, SourceScreenShareAudio)
			}
		}
		fallthrough
	default: // viewer, or an unknown role: the least rights
		g.CanPublishData = f.IsChatAllowed
		g.CanUpdateOwnMetadata = f.IsSelfRenamingAllowed || f.IsHandRaisingAllowed
		g.CanRename = f.IsSelfRenamingAllowed
	}
	g.CanPublish = len(g.CanPublishSources) > 0
	return g
}

// Video converts the grants into a LiveKit VideoGrant for room.
func (g Grants) Video(room string) *VideoGrant {
	return &VideoGrant{
		RoomJoin: true, Room: room, RoomAdmin: g.RoomAdmin, Hidden: g.Hidden, RoomRecord: g.CanRecord,
		CanPublish:           &g.CanPublish,
		CanSubscribe:         &g.CanSubscribe,
		CanPublishData:       &g.CanPublishData,
		CanUpdateOwnMetadata: &g.CanUpdateOwnMetadata,
		// A list even when empty; in the token an empty list is left out,
		// and CanPublish false then forbids every source.
		CanPublishSources: append([]string{}, g.CanPublishSources...),
	}
}

// Media describes one media token.
type Media struct {
	APIKey, APISecret string
	Identity, Name    string
	// Room is the LiveKit room name: Spacecast uses the room's id.
	Room   string
	Role   Role
	Grants Grants
	TTL    time.Duration
	// MaxParticipants is the room's cap (0: the edge's default). It rides
	// in the token's roomConfig, where LiveKit carries a room's settings to
	// the server that hosts it: the edge refuses a join that would go past
	// it (the smaller of it and the edge's own limit).
	MaxParticipants int
	// AutoRecord: the room records its calls automatically
	// (isAutoRecordingAllowed). It rides in the token's roomConfig as
	// LiveKit's auto egress (a room composite egress): the edge where the
	// call starts starts its recording.
	AutoRecord bool
	// RequestID is the id of the join request (internal/requestid), carried
	// in the claim requestid.Claim so that the edge logs it when the
	// participant connects; "" carries none.
	RequestID string
}

// Server-owned participant attributes of the media token; participants
// cannot change them (the edge refuses).
const (
	// RoleAttribute carries the role.
	RoleAttribute = "spacecast.role"
	// RenameAttribute is "true" when the participant may rename itself.
	RenameAttribute = "spacecast.canRename"
)

func (m Media) attributes() map[string]string {
	a := map[string]string{RoleAttribute: string(m.Role)}
	if m.Grants.CanRename {
		a[RenameAttribute] = "true"
	}
	return a
}

// MediaToken mints the LiveKit access token for m.
func MediaToken(m Media) (string, error) {
	c := claims{Identity: m.Identity, Name: m.Name, Video: m.Grants.Video(m.Room), Attributes: m.attributes(), RequestID: m.RequestID}
	if m.MaxParticipants > 0 || m.AutoRecord {
		c.RoomConfig = &roomConfig{MaxParticipants: uint32(max(m.MaxParticipants, 0))}
		if m.AutoRecord {
			c.RoomConfig.Egress = &livekit.RoomEgress{Room: &livekit.RoomCompositeEgressRequest{RoomName: m.Room}}
		}
	}
	s, err := sign(m.APIKey, m.APISecret, c, m.TTL, time.Now())
	if err != nil {
		return "", fmt.Errorf("grant: media token: %w", err)
	}
	return s, nil
}
