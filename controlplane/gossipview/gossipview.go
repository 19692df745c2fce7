package gossipview

import (
	"context"
	"errors"
	"time"

	"github.com/spacecast/spacecast/controlplane/moderation"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/removal"
	"github.com/spacecast/spacecast/gossip"
)

// View is what the control plane reads and writes through its gossip node;
// *gossip.Node implements it.
type View interface {
	placement.FleetView
	Revoke(r gossip.Revocation) error
	RevokedIssued(room, identity, tokenID string, issued time.Time) bool
	RevokedPrefix(room, prefix string, issued time.Time) bool
}

var _ View = (*gossip.Node)(nil)

// Fleet is the control plane's side of the cluster.
type Fleet struct {
	view View
	// removalTTL is how long a removal bars old credentials.
	removalTTL time.Duration
}

var (
	_ moderation.RoomLocator = (*Fleet)(nil)
	_ removal.Revocations    = (*Fleet)(nil)
	_ removal.UserRevoker    = (*Fleet)(nil)
)

// New builds a Fleet over view. removalTTL is how long a removal lasts: the
// lifetime of the longest credential it must stop (the session TTL).
func New(view View, removalTTL time.Duration) (*Fleet, error) {
	if view == nil {
		return nil, errors.New("gossipview: no gossip view")
	}
	if removalTTL <= 0 {
		return nil, errors.New("gossipview: removalTTL must be positive")
	}
	return &Fleet{view: view, removalTTL: removalTTL}, nil
}

// Locate implements moderation.RoomLocator: every alive edge the room directory
// says hosts the room.
func (f *Fleet) Locate(ctx context.Context, roomID string) ([]placement.Placement, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hosts := f.view.Hosts(roomID)
	if len(hosts) == 0 {
		return nil, nil
	}
	byID := map[string]gossip.Member{}
	for _, m := range f.view.Nodes() {
		if m.MetaErr == nil && m.Meta.Role == gossip.RoleEdge {
			byID[m.Meta.NodeID] = m
		}
	}
	out := make([]placement.Placement, 0, len(hosts))
	for _, h := range hosts {
		m, ok := byID[h.NodeID]
		if !ok || m.Meta.SignalURL == "" {
			continue
		}
		out = append(out, placement.Placement{NodeID: m.Meta.NodeID, Region: m.Meta.Region, SignalURL: m.Meta.SignalURL, TURNURLs: m.Meta.TURNURLs})
	}
	return out, nil
}

// RevokeParticipant implements removal.Revocations: the removal reaches every
// replica and edge by gossip within seconds.
func (f *Fleet) RevokeParticipant(room, identity string, at time.Time) error {
	return f.view.Revoke(gossip.Revocation{
		Kind: gossip.RevokeParticipant, Room: room, Subject: identity,
		Until: at.Add(f.removalTTL), IssuedBefore: at,
	})
}

// RevokeUser implements removal.UserRevoker: every edge disconnects the
// identity wherever it is and refuses its media tokens until until.
func (f *Fleet) RevokeUser(identity string, until time.Time) error {
	return f.view.Revoke(gossip.Revocation{Kind: gossip.RevokeUser, Subject: identity, Until: until})
}

// ParticipantRevoked implements removal.Revocations.
func (f *Fleet) ParticipantRevoked(room, identity string, issued, _ time.Time) bool {
	return f.view.RevokedIssued(room, identity, "", issued)
}

// PrefixRevoked implements removal.Revocations.
func (f *Fleet) PrefixRevoked(room, prefix string, issued, _ time.Time) bool {
	return f.view.RevokedPrefix(room, prefix, issued)
}

// Regions is the region list clients probe before they join.
func (f *Fleet) Regions() []placement.Region { return placement.Regions(f.view.Nodes()) }
