package moderation

import (
	"context"

	"github.com/spacecast/spacecast/controlplane/placement"
)

// RoomLocator finds the edges that host a room. Implementations are safe
// for concurrent use. A room may be hosted by several edges at once (a
// cascaded room); Locate answers every one of them, and an empty slice
// when none hosts it.
type RoomLocator interface {
	Locate(ctx context.Context, roomID string) ([]placement.Placement, error)
}

// PlacerLocator locates every room on the edge Placer would place a new
// participant of it on: exact for placement.Static (one edge), a stand-in
// where no directory of live rooms answers Locate.
type PlacerLocator struct{ Placer placement.Placer }

// Locate implements RoomLocator.
func (l PlacerLocator) Locate(ctx context.Context, roomID string) ([]placement.Placement, error) {
	pl, err := l.Placer.Place(ctx, placement.Request{RoomID: roomID})
	if err != nil {
		return nil, err
	}
	return []placement.Placement{pl}, nil
}
