package waiting

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/store"
)

// Errors of the waiting room.
var (
	// ErrGone: the ticket names no place in a waiting room (it never did,
	// its page left, stopped asking, or its room is gone).
	ErrGone = errors.New("waiting: no such place in the waiting room (left, timed out or unknown)")
	// ErrDecided: a moderator already decided otherwise on the entry.
	ErrDecided = errors.New("waiting: the entry was already decided otherwise")
)

// RefusedError: a moderator refused the person entry to the room.
type RefusedError struct {
	Reason string // the moderator's, may be empty
}

func (e *RefusedError) Error() string {
	if e.Reason == "" {
		return "waiting: a moderator refused entry to the room"
	}
	return "waiting: a moderator refused entry to the room: " + e.Reason
}

// Defaults of Options.
const (
	// MaxPoll is the longest a poll (Await, Watch) is held.
	MaxPoll = 15 * time.Second
	// DefaultPresence keeps an entry for a poll and 10 s more: a page
	// asks again as soon as a poll ends.
	DefaultPresence = MaxPoll + 10*time.Second
	// DefaultReconnect keeps the entry of a page that was closed or
	// reloads.
	DefaultReconnect = 10 * time.Second
	// DefaultAdmitHold is how long an admitted ticket buys a join.
	DefaultAdmitHold = 10 * time.Minute
	// DefaultRefusalHold is how long a user's or a guest's refusal is
	// kept (a link's: until the link expires).
	DefaultRefusalHold = 4 * time.Hour
)

// Options are the Service's dependencies and settings; zero durations
// take the defaults.
type Options struct {
	Store store.WaitingRooms
	// Now is the clock of the stored times; nil means time.Now. Polls
	// are held by real timers.
	Now func() time.Time

	Presence    time.Duration
	Reconnect   time.Duration
	AdmitHold   time.Duration
	RefusalHold time.Duration
}

// Service runs the waiting rooms. It is safe for concurrent use.
type Service struct {
	o    Options
	wake signal
}

// New checks o and builds the Service.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("waiting: Store is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Presence, DefaultPresence)
	def(&o.Reconnect, DefaultReconnect)
	def(&o.AdmitHold, DefaultAdmitHold)
	def(&o.RefusalHold, DefaultRefusalHold)
	return &Service{o: o}, nil
}

// Changed wakes the polls of this replica to read the store again: call
// it for each TopicWaiting change the store reports (another replica's
// writes). This replica's own writes wake them without it.
func (s *Service) Changed() { s.wake.fire() }

// Newcomer is who a join made wait, as the join found it.
type Newcomer struct {
	Room     store.Room
	Identity string
	Name     string
	Role     grant.Role
	User     store.UserID
	Link     string
	Family   string
	Issued   time.Time
	Until    time.Time
}

// Enter puts n in its room's waiting room and returns the entry and the
// ticket its page polls with (shown once: only its hash is kept).
func (s *Service) Enter(ctx context.Context, n Newcomer) (store.WaitingEntry, string, error) {
	id, err := auth.RandomID()
	if err != nil {
		return store.WaitingEntry{}, "", err
	}
	ticket, err := auth.RandomString("wt_", 32)
	if err != nil {
		return store.WaitingEntry{}, "", err
	}
	now := s.o.Now()
	e := store.WaitingEntry{ID: id, ClientID: n.Room.ClientID, RoomID: n.Room.ID, TicketHash: auth.TokenHash(ticket),
		Identity: n.Identity, Name: n.Name, Role: string(n.Role), UserID: n.User, LinkID: n.Link, Family: n.Family,
		Issued: n.Issued, Until: n.Until, State: store.WaitingStateWaiting,
		CreatedAt: now, SeenAt: now, ExpiresAt: now.Add(s.o.Presence)}
	if err := s.o.Store.CreateWaiting(ctx, e); err != nil {
		return store.WaitingEntry{}, "", access.About("room", "room", err)
	}
	s.wake.fire()
	return e, ticket, nil
}

// ByTicket is the entry of ticket, whatever its state; an unknown ticket,
// or the ticket of an entry that is no longer waiting and has expired, is
// ErrGone. It does not tell the entry's page is there (Await does).
func (s *Service) ByTicket(ctx context.Context, ticket string) (store.WaitingEntry, error) {
	e, err := s.o.Store.GetWaitingByTicket(ctx, auth.TokenHash(ticket))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !e.ExpiresAt.After(s.o.Now())) {
		return store.WaitingEntry{}, ErrGone
	}
	return e, err
}

// Await is the poll of a waiter's page: it records that the page is there
// and returns the entry of ticket once it is no longer waiting, or as it
// is after wait (at most MaxPoll) or when done closes (the server stops).
// A refused entry is returned with a *RefusedError; an entry that left or
// expired is ErrGone.
func (s *Service) Await(ctx context.Context, done <-chan struct{}, ticket string, wait time.Duration) (store.WaitingEntry, error) {
	e, err := s.ByTicket(ctx, ticket)
	if err != nil {
		return e, err
	}
	if e.State == store.WaitingStateWaiting {
		now := s.o.Now()
		err := s.o.Store.TouchWaiting(ctx, e.ClientID, e.ID, now, now.Add(s.o.Presence))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return e, err
		}
		// Not found: decided or expired meanwhile; the loop reads which.
	}
	timer := time.NewTimer(min(wait, MaxPoll))
	defer timer.Stop()
	for {
		woken := s.wake.wait()
		e, err = s.ByTicket(ctx, ticket)
		if err != nil {
			return e, err
		}
		switch e.State {
		case store.WaitingStateRefused:
			return e, &RefusedError{Reason: e.Reason}
		case store.WaitingStateAdmitted:
			return e, nil
		}
		select {
		case <-woken:
		case <-timer.C:
			return e, nil
		case <-done:
			return e, nil
		case <-ctx.Done():
			return e, ctx.Err()
		}
	}
}

// Leave is the waiter's page leaving: for good (the entry goes at once),
// or closing or reloading when reconnect is set (the entry stays for
// Reconnect, long enough to come back with the ticket). A decided entry
// stays as it is: a refusal is not undone by leaving, an admission is
// kept for the join. An unknown ticket has nothing to leave.
func (s *Service) Leave(ctx context.Context, ticket string, reconnect bool) error {
	e, err := s.ByTicket(ctx, ticket)
	if errors.Is(err, ErrGone) || (err == nil && e.State != store.WaitingStateWaiting) {
		return nil
	}
	if err != nil {
		return err
	}
	if reconnect {
		now := s.o.Now()
		if e.ExpiresAt.Before(now.Add(s.o.Reconnect)) {
			return nil // already leaving sooner
		}
		err = s.o.Store.TouchWaiting(ctx, e.ClientID, e.ID, now, now.Add(s.o.Reconnect))
	} else {
		err = s.o.Store.DeleteWaiting(ctx, e.ClientID, e.ID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil // decided, expired or gone meanwhile
	}
	if err == nil {
		s.wake.fire()
	}
	return err
}

// List is who waits in m's room now, oldest first.
func (s *Service) List(ctx context.Context, m access.ModeratedRoom) ([]store.WaitingEntry, error) {
	rm := m.Room()
	return s.o.Store.ListWaiting(ctx, rm.ClientID, rm.ID, s.o.Now())
}

// Version names a list of waiting entries: Watch answers as soon as the
// list's version differs from the one its caller has.
func Version(es []store.WaitingEntry) string {
	h := sha256.New()
	for _, e := range es {
		h.Write([]byte(e.ID))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Watch is the poll of a moderator's list: it returns who waits in m's
// room and the list's Version as soon as the version differs from after,
// or after wait (at most MaxPoll), or when done closes. It wakes when an
// entry comes, goes or is decided, and when one expires.
func (s *Service) Watch(ctx context.Context, done <-chan struct{}, m access.ModeratedRoom, after string, wait time.Duration) ([]store.WaitingEntry, string, error) {
	timer := time.NewTimer(min(wait, MaxPoll))
	defer timer.Stop()
	var expiry *time.Timer
	defer func() {
		if expiry != nil {
			expiry.Stop()
		}
	}()
	for {
		woken := s.wake.wait()
		es, err := s.List(ctx, m)
		if err != nil {
			return nil, "", err
		}
		v := Version(es)
		if v != after {
			return es, v, nil
		}
		// Wake when the first entry expires (its page stopped asking).
		if expiry != nil {
			expiry.Stop()
		}
		var expired <-chan time.Time
		if len(es) > 0 {
			first := es[0].ExpiresAt
			for _, e := range es[1:] {
				if e.ExpiresAt.Before(first) {
					first = e.ExpiresAt
				}
			}
			expiry = time.NewTimer(first.Sub(s.o.Now()) + 10*time.Millisecond)
			expired = expiry.C
		}
		select {
		case <-woken:
		case <-expired:
		case <-timer.C:
			return es, v, nil
		case <-done:
			return es, v, nil
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
	}
}

// Admit lets entry id of m's room in: its page's next poll gets a join
// answer. Admitting an admitted entry again answers it as it is; a
// refused one is ErrDecided; an unknown, gone or expired one
// store.ErrNotFound.
func (s *Service) Admit(ctx context.Context, m access.ModeratedRoom, id string) (store.WaitingEntry, error) {
	return s.decideOne(ctx, m, id, store.WaitingStateAdmitted, "")
}

// Refuse keeps entry id of m's room out, telling it reason (may be
// empty); as Admit otherwise.
func (s *Service) Refuse(ctx context.Context, m access.ModeratedRoom, id, reason string) (store.WaitingEntry, error) {
	return s.decideOne(ctx, m, id, store.WaitingStateRefused, reason)
}

// AdmitAll lets everyone waiting in m's room in; it returns whom.
func (s *Service) AdmitAll(ctx context.Context, m access.ModeratedRoom) ([]store.WaitingEntry, error) {
	return s.decide(ctx, m.Room().Room, nil, store.WaitingStateAdmitted, "")
}

// RefuseAll keeps everyone waiting in m's room out; it returns whom.
func (s *Service) RefuseAll(ctx context.Context, m access.ModeratedRoom, reason string) ([]store.WaitingEntry, error) {
	return s.decide(ctx, m.Room().Room, nil, store.WaitingStateRefused, reason)
}

// Release admits e, whose room no longer makes it wait (its audience
// changed, or the person became a moderator), without a moderator: the
// join service calls it when the waiter's page asks.
func (s *Service) Release(ctx context.Context, rm store.Room, e store.WaitingEntry) (store.WaitingEntry, error) {
	moved, err := s.decide(ctx, rm, []store.WaitingEntry{e}, store.WaitingStateAdmitted, "")
	if err != nil {
		return e, err
	}
	if len(moved) == 1 {
		return moved[0], nil
	}
	// Decided or gone meanwhile: as it is now.
	return s.o.Store.GetWaiting(ctx, rm.ClientID, rm.ID, e.ID)
}

func (s *Service) decideOne(ctx context.Context, m access.ModeratedRoom, id string, state store.WaitingState, reason string) (store.WaitingEntry, error) {
	rm := m.Room().Room
	e, err := s.o.Store.GetWaiting(ctx, rm.ClientID, rm.ID, id)
	if err != nil {
		return e, access.About("waiting entry", "waiting_entry", err)
	}
	moved, err := s.decide(ctx, rm, []store.WaitingEntry{e}, state, reason)
	if err != nil {
		return e, err
	}
	if len(moved) == 1 {
		return moved[0], nil
	}
	// Not waiting any more: decided (by another moderator, maybe at the
	// same moment), left or expired.
	if e, err = s.o.Store.GetWaiting(ctx, rm.ClientID, rm.ID, id); err != nil {
		return e, access.About("waiting entry", "waiting_entry", err)
	}
	switch {
	case e.State == state:
		return e, nil
	case e.State == store.WaitingStateWaiting:
		return e, access.About("waiting entry", "waiting_entry", store.ErrNotFound) // its page is gone
	}
	return e, fmt.Errorf("%w (it was %s)", ErrDecided, e.State)
}

// decide moves es (nil: every entry waiting in rm) to state. Each entry
// gets the expiry its decision needs: an admission AdmitHold, a refusal
// as long as it must be remembered.
func (s *Service) decide(ctx context.Context, rm store.Room, es []store.WaitingEntry, state store.WaitingState, reason string) ([]store.WaitingEntry, error) {
	now := s.o.Now()
	d := store.WaitingDecision{ClientID: rm.ClientID, RoomID: rm.ID, State: state, Reason: reason, At: now, ExpiresAt: now.Add(s.o.AdmitHold)}
	if es == nil {
		var err error
		if es, err = s.o.Store.ListWaiting(ctx, rm.ClientID, rm.ID, now); err != nil {
			return nil, err
		}
	}
	// One update per expiry: entries that came with a link keep their
	// refusal until their link expires, the others for RefusalHold.
	groups := map[time.Time][]string{}
	var order []time.Time
	for _, e := range es {
		exp := d.ExpiresAt
		if state == store.WaitingStateRefused {
			exp = s.refusalExpiry(e, now)
		}
		if _, ok := groups[exp]; !ok {
			order = append(order, exp)
		}
		groups[exp] = append(groups[exp], e.ID)
	}
	var moved []store.WaitingEntry
	for _, exp := range order {
		d.IDs, d.ExpiresAt = groups[exp], exp
		m, err := s.o.Store.DecideWaiting(ctx, d)
		if err != nil {
			return moved, err
		}
		moved = append(moved, m...)
	}
	if len(moved) > 0 {
		s.wake.fire()
	}
	return moved, nil
}

// refusalExpiry is how long e's refusal is kept: until the link that
// admitted it expires (a later use of the link is refused), else for
// RefusalHold but no longer than the user's sign-in; at least AdmitHold,
// for the page to hear of it.
func (s *Service) refusalExpiry(e store.WaitingEntry, now time.Time) time.Time {
	exp := now.Add(s.o.RefusalHold)
	switch {
	case e.LinkID != "" && !e.Until.IsZero():
		exp = e.Until
	case !e.Until.IsZero() && e.Until.Before(exp):
		exp = e.Until
	}
	return maxTime(exp, now.Add(s.o.AdmitHold))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Refused is the refusal still held of link (when not empty) or user
// (when not empty) in rm, as a *RefusedError; nil when there is none.
func (s *Service) Refused(ctx context.Context, rm store.Room, link string, user store.UserID) error {
	if link == "" && user == "" {
		return nil
	}
	e, err := s.o.Store.FindRefusedWaiting(ctx, rm.ClientID, rm.ID, link, user, s.o.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return &RefusedError{Reason: e.Reason}
}

// Prune forgets the entries that have expired; it returns how many.
func (s *Service) Prune(ctx context.Context) (int, error) {
	return s.o.Store.PruneWaiting(ctx, s.o.Now())
}
