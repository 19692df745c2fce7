package placement

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// ErrNoEdge means no edge can take the participant (none alive, all draining
// or full). The join endpoint answers 503 with a Retry-After.
var ErrNoEdge = errors.New("placement: no edge available")

// Request is what the join endpoint knows when it places a participant.
type Request struct {
	RoomID    string
	RoomAlias string
	ClientID  string
	// RegionHint is an explicit region asked for by the client ("" if none).
	RegionHint string
	// RTTs are round-trip times the client measured to each region's probe URL.
	RTTs map[string]time.Duration
	// ClientAddr is the participant's source address (for the CIDR map).
	ClientAddr netip.Addr
}

// Placement is the chosen edge.
type Placement struct {
	NodeID string
	Region string
	// SignalURL is the edge's LiveKit signalling base URL (ws:// or wss://),
	// which LiveKit SDKs connect to (they append /rtc).
	SignalURL string
	// TURNURLs are the edge's TURN/STUN URLs (turn:, turns:, stun:); the
	// control plane adds time-limited credentials.
	TURNURLs []string
	// Reason tells why the region was chosen (one of the Reason
	// constants): what metrics count placements by.
	Reason string
}

// Why a placement's region was chosen.
const (
	ReasonHint    = "hint"    // the client asked for it
	ReasonRTT     = "rtt"     // the lowest round-trip time the client measured
	ReasonCIDR    = "cidr"    // the client's address is in the region's CIDR map
	ReasonDefault = "default" // the policy's default region
	ReasonAny     = "any"     // no preferred region had a usable edge: the least utilised anywhere
	ReasonStatic  = "static"  // one configured edge (Static)
)

// Placer picks an edge for a participant. Implementations are safe for
// concurrent use and must answer quickly (they run on every join).
type Placer interface {
	Place(ctx context.Context, req Request) (Placement, error)
}

// Static places every participant on one configured edge.
type Static struct {
	Edge Placement
}

// Place implements Placer.
func (s Static) Place(_ context.Context, _ Request) (Placement, error) {
	if s.Edge.SignalURL == "" {
		return Placement{}, ErrNoEdge
	}
	pl := s.Edge
	pl.Reason = ReasonStatic
	return pl, nil
}
