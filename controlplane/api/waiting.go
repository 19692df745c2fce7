package api

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/join"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/waiting"
)

// WaitingAnswer is what a join (202) and a waiter's poll (202) answer
// while the participant waits for a moderator: no media token, no edge,
// a ticket to poll with.
type WaitingAnswer struct {
	Status   string     `json:"status"` // "waiting"
	ID       string     `json:"id"`     // the entry moderators see
	Ticket   string     `json:"ticket"` // POST .../wait takes it
	Identity string     `json:"identity"`
	Name     string     `json:"name"`
	Role     grant.Role `json:"role"` // once admitted
	Since    time.Time  `json:"since"`
	Room     RoomView   `json:"room"`
	// PollSeconds is how long POST .../wait holds a poll while nothing
	// changes.
	PollSeconds int `json:"pollSeconds"`
}

// WaitRequest is the body of POST /v1/rooms/{alias}/wait.
type WaitRequest struct {
	Ticket *string `json:"ticket"`
	// Wait is how long to hold the poll while nothing changes, in
	// seconds (0 answers at once; default and most: waiting.MaxPoll).
	Wait            *int64           `json:"wait"`
	ParticipantName string           `json:"participantName"` // ignored: the name given to the join stays
	RegionHint      string           `json:"regionHint"`
	RTTs            map[string]int64 `json:"rtts"`
}

// LeaveWaitingRequest is the body of POST /v1/rooms/{alias}/wait/leave.
type LeaveWaitingRequest struct {
	Ticket *string `json:"ticket"`
	// Reconnect: the page closes or reloads and may come back; the place
	// is kept for a few seconds. Without it, the place is given up at
	// once.
	Reconnect bool `json:"reconnect"`
}

// WaitingEntryView is one entry as moderators see it.
type WaitingEntryView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Identity string `json:"identity"`
	// Guest: without a user account (a link's or an anonymous guest).
	Guest bool       `json:"guest"`
	Role  grant.Role `json:"role"` // the call role it gets once admitted
	State string     `json:"state"`
	// Reason is a refusal's.
	Reason    string     `json:"reason,omitempty"`
	Since     time.Time  `json:"since"`
	DecidedAt *time.Time `json:"decidedAt,omitempty"`
}

// WaitingList is who waits in a room, with the list's version: a poll
// that sends it back as after answers when the list changes.
type WaitingList struct {
	Items   []WaitingEntryView `json:"items"`
	Total   int                `json:"total"`
	Version string             `json:"version"`
}

// RefuseRequest is the optional body of the refuse routes.
type RefuseRequest struct {
	Reason *string `json:"reason"`
}

func viewWaiting(e store.WaitingEntry) WaitingEntryView {
	v := WaitingEntryView{ID: e.ID, Name: e.Name, Identity: e.Identity, Guest: e.UserID == "", Role: grant.Role(e.Role),
		State: string(e.State), Reason: e.Reason, Since: e.CreatedAt}
	if !e.DecidedAt.IsZero() {
		d := e.DecidedAt
		v.DecidedAt = &d
	}
	return v
}

func waitingAnswer(ans join.Answer) WaitingAnswer {
	w := ans.Waiting
	return WaitingAnswer{Status: "waiting", ID: w.ID, Ticket: w.Ticket, Identity: ans.Identity, Name: ans.Name, Role: ans.Role,
		Since: w.Since, Room: viewRoom(ans.Room, ""), PollSeconds: int(waiting.MaxPoll / time.Second)}
}

// answerJoin answers a join or a waiter's poll: 200 with the join answer,
// or 202 while the participant waits.
func (r *request) answerJoin(ans join.Answer) error {
	r.c.Response.Header.Set("Cache-Control", "no-store")
	if ans.Waiting != nil {
		return r.json(http.StatusAccepted, waitingAnswer(ans))
	}
	return r.json(http.StatusOK, joinAnswer(ans))
}

// pollContext bounds the storage work of a held poll: the poll's wait
// and a request's timeout after it.
func (r *request) pollContext(wait time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), wait+r.a.o.RequestTimeout)
}

// pollWait reads a poll's wait in seconds (nil: MaxPoll, the default and
// the most); ok is false when it is out of range.
func pollWait(v *int64) (d time.Duration, ok bool) {
	if v == nil {
		return waiting.MaxPoll, true
	}
	if *v < 0 || *v > int64(waiting.MaxPoll/time.Second) {
		return 0, false
	}
	return time.Duration(*v) * time.Second, true
}

// pollRange is the error of a wait out of range.
var pollRange = fieldf("wait", "must be an integer between 0 and %d", int(waiting.MaxPoll/time.Second))

func ticketOf(p *string) (string, error) {
	var c check
	t := c.required("ticket", p)
	if c.err == nil && len(t) > 256 {
		c.fail(invalid("too_long", "ticket", "ticket: too long"))
	}
	return t, c.err
}

// decodeWait decodes and checks a waiter's poll: its ticket and how long
// to hold it.
func decodeWait(body []byte) (q WaitRequest, ticket string, wait time.Duration, err error) {
	if err = decodeJSON(body, &q); err != nil {
		return q, "", 0, err
	}
	if ticket, err = ticketOf(q.Ticket); err != nil {
		return q, "", 0, err
	}
	wait, ok := pollWait(q.Wait)
	if !ok {
		return q, "", 0, invalid("out_of_range", "wait", pollRange)
	}
	jq := JoinRequest{RegionHint: q.RegionHint, RTTs: q.RTTs}
	return q, ticket, wait, jq.validate()
}

// waitRoom: POST /v1/rooms/{alias}/wait, a waiter's poll (the ticket is
// its credential).
func (a *API) waitRoom(r *request) error {
	alias := r.p.get(0)
	if !validAlias(alias) {
		return badInput("invalid_id", "alias", "alias: is not a valid room alias")
	}
	q, ticket, wait, err := decodeWait(r.c.PostBody())
	if err != nil {
		return err
	}
	ctx, cancel := r.pollContext(wait)
	defer cancel()
	ans, err := a.o.Join.Wait(ctx, join.WaitRequest{Alias: alias, Ticket: ticket, Wait: wait, Done: r.c.Done(),
		RegionHint: q.RegionHint, RTTs: rtts(q.RTTs), ClientAddr: r.clientAddr(), RequestID: r.requestID()})
	if err != nil {
		return err
	}
	return r.answerJoin(ans)
}

// decodeLeave decodes and checks a waiter's leave.
func decodeLeave(body []byte) (ticket string, reconnect bool, err error) {
	var q LeaveWaitingRequest
	if err := decodeJSON(body, &q); err != nil {
		return "", false, err
	}
	ticket, err = ticketOf(q.Ticket)
	return ticket, q.Reconnect, err
}

// leaveWaiting: POST /v1/rooms/{alias}/wait/leave.
func (a *API) leaveWaiting(r *request) error {
	if !validAlias(r.p.get(0)) {
		return badInput("invalid_id", "alias", "alias: is not a valid room alias")
	}
	ticket, reconnect, err := decodeLeave(r.c.PostBody())
	if err != nil {
		return err
	}
	if err := a.o.Waiting.Leave(r.context(), ticket, reconnect); err != nil {
		return err
	}
	return r.json(http.StatusOK, struct{}{})
}

// doorkept is the room of the path for a caller that may decide who comes
// in from its waiting room: its client, a moderator's user token, or a
// moderator's session credential (the room page).
func (r *request) doorkept() (access.ModeratedRoom, error) {
	ref, err := r.roomRef()
	if err != nil {
		return access.ModeratedRoom{}, err
	}
	if r.session != "" {
		return r.a.o.Join.Moderator(r.context(), r.session, ref)
	}
	return r.a.o.Access.ModerateWaiting(r.context(), r.caller, ref)
}

// listWaiting: GET /v1/spaces/{spaceId}/rooms/{roomId}/waiting. With
// after (a version), a poll: it answers once the list differs.
func (a *API) listWaiting(r *request) error {
	m, err := r.doorkept()
	if err != nil {
		return err
	}
	args := r.c.QueryArgs()
	after := string(args.Peek("after"))
	if len(after) > 64 {
		return badInput("invalid_query", "after", "after: is not a version of the list")
	}
	var wait time.Duration
	if after != "" {
		var w *int64
		if v := args.Peek("wait"); v != nil {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return badInput("invalid_query", "wait", pollRange)
			}
			w = &n
		}
		var ok bool
		if wait, ok = pollWait(w); !ok {
			return badInput("invalid_query", "wait", pollRange)
		}
	}
	ctx, cancel := r.pollContext(wait)
	defer cancel()
	es, v, err := a.o.Waiting.Watch(ctx, r.c.Done(), m, after, wait)
	if err != nil {
		return err
	}
	out := WaitingList{Items: make([]WaitingEntryView, 0, len(es)), Total: len(es), Version: v}
	for _, e := range es {
		out.Items = append(out.Items, viewWaiting(e))
	}
	r.c.Response.Header.Set("Cache-Control", "no-store")
	return r.json(http.StatusOK, out)
}

// entryID is the {entryId} path parameter (index 2).
func (r *request) entryID() (string, error) { return r.id(2, "entryId") }

// decodeReason decodes a refusal's optional body: its reason, if any.
func decodeReason(body []byte) (string, error) {
	var q RefuseRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSON(body, &q); err != nil {
			return "", err
		}
	}
	if q.Reason == nil {
		return "", nil
	}
	var c check
	c.length("reason", *q.Reason, 0, 500)
	return *q.Reason, c.err
}

// admitWaiting: POST .../waiting/{entryId}/admit.
func (a *API) admitWaiting(r *request) error {
	m, err := r.doorkept()
	if err != nil {
		return err
	}
	id, err := r.entryID()
	if err != nil {
		return err
	}
	e, err := a.o.Waiting.Admit(r.context(), m, id)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewWaiting(e))
}

// refuseWaiting: POST .../waiting/{entryId}/refuse.
func (a *API) refuseWaiting(r *request) error {
	m, err := r.doorkept()
	if err != nil {
		return err
	}
	id, err := r.entryID()
	if err != nil {
		return err
	}
	reason, err := decodeReason(r.c.PostBody())
	if err != nil {
		return err
	}
	e, err := a.o.Waiting.Refuse(r.context(), m, id, reason)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewWaiting(e))
}

// admitAllWaiting: POST .../waiting/admit-all.
func (a *API) admitAllWaiting(r *request) error {
	m, err := r.doorkept()
	if err != nil {
		return err
	}
	es, err := a.o.Waiting.AdmitAll(r.context(), m)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewWaitingList(es))
}

// refuseAllWaiting: POST .../waiting/refuse-all.
func (a *API) refuseAllWaiting(r *request) error {
	m, err := r.doorkept()
	if err != nil {
		return err
	}
	reason, err := decodeReason(r.c.PostBody())
	if err != nil {
		return err
	}
	es, err := a.o.Waiting.RefuseAll(r.context(), m, reason)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewWaitingList(es))
}

func viewWaitingList(es []store.WaitingEntry) list[WaitingEntryView] {
	out := list[WaitingEntryView]{Items: make([]WaitingEntryView, 0, len(es)), Total: len(es)}
	for _, e := range es {
		out.Items = append(out.Items, viewWaiting(e))
	}
	return out
}
