package analytics

import (
	"context"
	"errors"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/store"
)

// Store is what the Service reads.
type Store interface {
	ListCalls(ctx context.Context, client store.ClientID, space store.SpaceID, f store.CallFilter, p store.Page) ([]store.Call, int, error)
	GetCall(ctx context.Context, client store.ClientID, space store.SpaceID, id store.CallID) (store.Call, error)
	ListCallSessions(ctx context.Context, client store.ClientID, space store.SpaceID, id store.CallID) ([]store.CallSession, error)
}

// Options are the Service's dependencies.
type Options struct {
	Store Store
	// Now is the clock (the duration of a stay still going); nil means
	// time.Now.
	Now func() time.Time
}

// Service reads call history. It is safe for concurrent use.
type Service struct{ o Options }

// New checks o and builds the Service.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("analytics: Store is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{o: o}, nil
}

// Query selects calls of a space.
type Query struct {
	// Room keeps one room's calls ("" for every room).
	Room store.RoomID
	// Day keeps the calls started that UTC day (zero for any day).
	Day time.Time
}

// Calls lists the calls of m's space that q selects, newest first, a page
// of them with their total. Call history is the space managers': the
// capability says the caller owns or moderates the space.
func (s *Service) Calls(ctx context.Context, m access.ManagedSpace, q Query, p store.Page) ([]store.Call, int, error) {
	f := store.CallFilter{RoomID: q.Room}
	if !q.Day.IsZero() {
		y, mo, d := q.Day.UTC().Date()
		f.From = time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
		f.To = f.From.AddDate(0, 0, 1)
	}
	l, total, err := s.o.Store.ListCalls(ctx, m.Caller().Client, m.Space().ID, f, p)
	if err != nil {
		return nil, 0, access.About("space", "space", err)
	}
	return l, total, nil
}

// Stay is one participant's time in a call: a reconnect is a new stay.
type Stay struct {
	Identity string
	Name     string
	JoinedAt time.Time
	// LeftAt is nil while the participant is in the call.
	LeftAt *time.Time
	// Duration runs to LeftAt, or to now for a stay still going.
	Duration time.Duration
}

// Report is one call with each participant's stays, by join time.
type Report struct {
	Call  store.Call
	Stays []Stay
}

// Report is call id of m's space with its stays. When room is not empty
// the call must be of that room: another room's call is
// store.ErrNotFound, as a missing one.
func (s *Service) Report(ctx context.Context, m access.ManagedSpace, id store.CallID, room store.RoomID) (Report, error) {
	c, sp := m.Caller(), m.Space()
	call, err := s.o.Store.GetCall(ctx, c.Client, sp.ID, id)
	if err == nil && room != "" && call.RoomID != room {
		err = store.ErrNotFound
	}
	if err != nil {
		return Report{}, access.About("call", "call", err)
	}
	sessions, err := s.o.Store.ListCallSessions(ctx, c.Client, sp.ID, call.ID)
	if err != nil {
		return Report{}, access.About("call", "call", err)
	}
	now := s.o.Now()
	r := Report{Call: call, Stays: make([]Stay, 0, len(sessions))}
	for _, cs := range sessions {
		end := now
		if cs.LeftAt != nil {
			end = *cs.LeftAt
		}
		r.Stays = append(r.Stays, Stay{Identity: cs.Identity, Name: cs.Name, JoinedAt: cs.JoinedAt, LeftAt: cs.LeftAt,
			Duration: end.Sub(cs.JoinedAt).Round(time.Second)})
	}
	return r, nil
}
