package join

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/waiting"
)

// maybeWait puts j in rm's waiting room when the room's audience makes it
// wait (waits true), spending its single-use credential on the way: the
// place in the waiting room, with its ticket, is what the credential buys
// then. A refusal held for j's link or user refuses it again at once.
func (s *Service) maybeWait(ctx context.Context, q Request, rm store.Room, j joiner, now time.Time) (Answer, bool, error) {
	role, account := j.role, j.user != ""
	if j.linkID != "" {
		// The link's role decides (a moderator's link never waits); it is
		// read before the link is spent.
		l, err := s.o.Store.GetAccessLink(ctx, rm.ClientID, j.linkID)
		if err != nil {
			return Answer{}, false, access.About("access link", "access_link", err)
		}
		role, account = linkRole(l), false
	}
	if !waiting.Waits(rm.Flags.WaitingRoomAudience, role, account) {
		return Answer{}, false, nil
	}
	if err := s.o.Waiting.Refused(ctx, rm, j.linkID, j.user); err != nil {
		return Answer{}, true, err
	}
	j, err := s.spend(ctx, q, rm, j, now)
	if err != nil {
		return Answer{}, true, err
	}
	e, ticket, err := s.o.Waiting.Enter(ctx, waiting.Newcomer{Room: rm, Identity: j.identity, Name: j.name, Role: j.role,
		User: j.user, Link: j.link, Family: j.family, Issued: j.issued, Until: j.until})
	if err != nil {
		return Answer{}, true, err
	}
	return waitingAnswer(rm, e, ticket), true, nil
}

func waitingAnswer(rm store.Room, e store.WaitingEntry, ticket string) Answer {
	return Answer{Identity: e.Identity, Name: e.Name, Role: grant.InRoom(grant.Role(e.Role), rm.Type), Room: rm,
		Waiting: &Waiting{ID: e.ID, Ticket: ticket, Since: e.CreatedAt}}
}

// WaitRequest is a waiter's poll.
type WaitRequest struct {
	Alias string
	// Ticket is the Waiting.Ticket of the join that made the participant
	// wait.
	Ticket string
	// Wait is how long to hold the poll while nothing changes (at most
	// waiting.MaxPoll); Done, when it closes, answers at once.
	Wait time.Duration
	Done <-chan struct{}

	// Placement inputs, as in Request: used once the participant is let in.
	RegionHint string
	RTTs       map[string]time.Duration
	ClientAddr netip.Addr
	// RequestID is the poll's request id, carried in the media token of
	// an admitted participant (as Request's).
	RequestID string
}

// Wait answers a waiter's poll. Once a moderator admits the participant,
// it is the join answer that Join would have given (and the ticket buys
// one, again, until the admission expires: an answer lost on the way is
// asked for again); while the participant waits, an Answer with Waiting
// set, after up to q.Wait. A refusal is a *waiting.RefusedError, a place
// that is no more (left, timed out, never was) waiting.ErrGone. A room
// whose audience no longer makes the participant wait lets it in.
func (s *Service) Wait(ctx context.Context, q WaitRequest) (Answer, error) {
	rm, err := s.o.Access.LookupAlias(ctx, q.Alias)
	if err != nil {
		return Answer{}, access.About("room", "room", err)
	}
	e, err := s.o.Waiting.ByTicket(ctx, q.Ticket)
	if err != nil {
		return Answer{}, err
	}
	if e.RoomID != rm.ID || e.ClientID != rm.ClientID {
		return Answer{}, &WrongRoomError{Credential: CredentialTicket}
	}
	if e.State == store.WaitingStateWaiting && !waiting.Waits(rm.Flags.WaitingRoomAudience, grant.Role(e.Role), e.UserID != "") {
		if e, err = s.o.Waiting.Release(ctx, rm, e); err != nil {
			return Answer{}, err
		}
	}
	switch e.State {
	case store.WaitingStateWaiting:
		if e, err = s.o.Waiting.Await(ctx, q.Done, q.Ticket, q.Wait); err != nil {
			return Answer{}, err
		}
		if e.State == store.WaitingStateWaiting {
			return waitingAnswer(rm, e, q.Ticket), nil
		}
	case store.WaitingStateRefused:
		return Answer{}, &waiting.RefusedError{Reason: e.Reason}
	}
	return s.admit(ctx, q, rm, e)
}

// admit completes the join of an admitted entry: the role is derived
// again from what holds now (as a reconnect's is), then the participant
// is placed and answered.
func (s *Service) admit(ctx context.Context, q WaitRequest, rm store.Room, e store.WaitingEntry) (Answer, error) {
	now := s.o.Now()
	j := joiner{identity: e.Identity, name: e.Name, issued: e.Issued, user: e.UserID, link: e.LinkID, family: e.Family, until: e.Until}
	var err error
	if j.role, err = s.roleNow(ctx, rm, j); err != nil {
		return Answer{}, err
	}
	if !j.until.IsZero() && !j.until.After(now) {
		return Answer{}, access.About("session", "session", store.ErrExpired)
	}
	if err := s.refuseRemoved(rm, j, now); err != nil {
		return Answer{}, err
	}
	pl, err := s.o.Placer.Place(ctx, placement.Request{RoomID: string(rm.ID), RoomAlias: rm.Alias, ClientID: string(rm.ClientID),
		RegionHint: q.RegionHint, RTTs: q.RTTs, ClientAddr: q.ClientAddr})
	if err != nil {
		return Answer{}, err
	}
	return s.answer(ctx, rm, j, pl, now, q.RequestID)
}

// roleNow is the call role of j in rm from what holds now: a user's
// current call role, a link's role (ErrAdmissionGone once the user or
// link is gone), a guest's right to be in the room.
func (s *Service) roleNow(ctx context.Context, rm store.Room, j joiner) (grant.Role, error) {
	switch {
	case j.user != "":
		caller := access.Caller{Client: rm.ClientID, User: j.user}
		if _, err := s.o.Store.GetUser(ctx, caller.Client, caller.User); errors.Is(err, store.ErrNotFound) {
			return "", ErrAdmissionGone
		} else if err != nil {
			return "", err
		}
		return s.o.Access.CallRole(ctx, caller, rm)
	case j.link != "":
		l, err := s.o.Store.GetAccessLink(ctx, rm.ClientID, j.link)
		if errors.Is(err, store.ErrNotFound) || (err == nil && l.RoomID != rm.ID) {
			return "", ErrAdmissionGone
		} else if err != nil {
			return "", err
		}
		return linkRole(l), nil
	}
	if err := s.openToGuests(ctx, rm); err != nil {
		return "", err
	}
	return grant.RoleParticipant, nil
}

// Moderator is the room ref for the participant whose session credential
// is sessionToken, when that participant moderates the room's calls: its
// role, derived again as a reconnect would (its user's current room role,
// its link's role), is owner or moderator, and no moderator removed it.
// This is how the room page's moderators, who may hold no user token (a
// moderator's link), act on the room through REST.
func (s *Service) Moderator(ctx context.Context, sessionToken string, ref access.RoomRef) (access.ModeratedRoom, error) {
	c, err := s.o.Access.Verify(ctx, sessionToken, auth.TypeSession, auth.AudSession)
	if err != nil {
		return access.ModeratedRoom{}, access.About("session", "session", err)
	}
	if c.Room != string(ref.Room) {
		return access.ModeratedRoom{}, &WrongRoomError{Credential: CredentialSession}
	}
	rm, err := s.o.Store.GetRoom(ctx, store.ClientID(c.ClientID), ref.Space, ref.Room)
	if err != nil {
		return access.ModeratedRoom{}, access.About("room", "room", err)
	}
	j, err := s.rejoin(ctx, Request{SessionToken: sessionToken}, rm)
	if err != nil {
		return access.ModeratedRoom{}, err
	}
	if err := s.refuseRemoved(rm, j, s.o.Now()); err != nil {
		return access.ModeratedRoom{}, err
	}
	return s.o.Access.ModerateInCall(ctx, rm.ClientID, ref, j.role)
}
