package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Event names of the calls (webhook.CallStarted, webhook.CallFinished).
const (
	EventCallStarted  = "call_started"
	EventCallFinished = "call_finished"
)

// EdgeState is what the store keeps of a reporting edge.
type EdgeState struct {
	Boot   string
	Seq    uint64
	SeenAt time.Time
}

// CallTx is what the call bookkeeping (ApplyEdgeReport, SweepCalls) needs
// of one backend transaction. The bookkeeping is written once, here, over
// these steps; each backend implements them in its own SQL and runs them
// in its own transactions (CallBackend). Lock* calls hold until the
// transaction ends; callers lock an edge before its rooms and rooms in
// increasing order, so transactions never wait on each other in a circle.
type CallTx interface {
	// LockEdge locks the edge's state (a zero EdgeState when it has none).
	LockEdge(ctx context.Context, edge string) (EdgeState, error)
	PutEdge(ctx context.Context, edge string, st EdgeState) error
	DeleteEdge(ctx context.Context, edge string) error
	// EdgeRooms are the participants of each room of the edge.
	EdgeRooms(ctx context.Context, edge string) (map[RoomID]int, error)
	// SetEdgeRoom records n participants of room on edge (0 forgets it).
	SetEdgeRoom(ctx context.Context, edge string, room RoomID, n int) error
	// LockRoom serialises the call work of one room.
	LockRoom(ctx context.Context, room RoomID) error
	// RoomParticipants sums the room's participants over every edge.
	RoomParticipants(ctx context.Context, room RoomID) (int, error)
	// ActiveCall is the room's call that has not finished, if any.
	ActiveCall(ctx context.Context, room RoomID) (Call, bool, error)
	// Room finds a room by id (ErrNotFound when unknown).
	Room(ctx context.Context, id RoomID) (Room, error)
	InsertCall(ctx context.Context, c Call) error
	// UpdateCall stores Participants, MaxParticipants, EmptySince and
	// FinishedAt of c.
	UpdateCall(ctx context.Context, c Call) error
	// OpenSessions are the sessions on edge without a LeftAt.
	OpenSessions(ctx context.Context, edge string) ([]OpenSession, error)
	AddSession(ctx context.Context, client ClientID, room RoomID, s CallSession) error
	EndSession(ctx context.Context, client ClientID, call CallID, sid string, at time.Time) error
	// EndCallSessions ends every open session of a call at at.
	EndCallSessions(ctx context.Context, client ClientID, call CallID, at time.Time) error
	// Enqueue queues ev (EnqueueWebhookEvent, in this transaction).
	Enqueue(ctx context.Context, id string, ev WebhookEvent, now time.Time) (bool, error)
	// Record finds a recording by id (false when unknown).
	Record(ctx context.Context, id RecordID) (Record, bool, error)
	// PutRecord inserts or replaces a recording.
	PutRecord(ctx context.Context, r Record) error
	// OpenRecords are the recordings of edge not yet final.
	OpenRecords(ctx context.Context, edge string) ([]Record, error)
}

// OpenSession is an open session with the room and client it is in.
type OpenSession struct {
	CallSession
	ClientID ClientID
	RoomID   RoomID
}

// CallBackend runs call transactions: fn in one transaction, committed
// when it returns nil. A backend may run fn again after a deadlock, so fn
// has no effect outside tx.
type CallBackend interface {
	InCallTx(ctx context.Context, fn func(tx CallTx) error) error
	// SilentEdges are the edges last heard before before.
	SilentEdges(ctx context.Context, before time.Time) ([]string, error)
	// EmptyCalls are the rooms whose call has been empty since before
	// before.
	EmptyCalls(ctx context.Context, before time.Time) ([]RoomID, error)
}

// NewID is a random id of 24 hex digits, the API's id form (calls,
// events, deliveries).
func NewID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// ApplyEdgeReport is Calls.ApplyEdgeReport over a backend.
func ApplyEdgeReport(ctx context.Context, b CallBackend, r EdgeReport, now time.Time) error {
	return b.InCallTx(ctx, func(tx CallTx) error { return applyReport(ctx, tx, r, now) })
}

func applyReport(ctx context.Context, tx CallTx, r EdgeReport, now time.Time) error {
	st, err := tx.LockEdge(ctx, r.Edge)
	if err != nil {
		return err
	}
	if st.Boot == r.Boot && r.Seq <= st.Seq && !st.SeenAt.IsZero() {
		return nil // a late retry of a batch already superseded
	}
	if err := tx.PutEdge(ctx, r.Edge, EdgeState{Boot: r.Boot, Seq: r.Seq, SeenAt: now}); err != nil {
		return err
	}
	prev, err := tx.EdgeRooms(ctx, r.Edge)
	if err != nil {
		return err
	}
	open, err := tx.OpenSessions(ctx, r.Edge)
	if err != nil {
		return err
	}
	byRoom := map[RoomID][]OpenSession{}
	for _, s := range open {
		byRoom[s.RoomID] = append(byRoom[s.RoomID], s)
	}
	target := map[RoomID]EdgeRoomState{}
	for _, rs := range r.Rooms {
		target[rs.Room] = rs
	}
	if r.Full { // rooms left out have nobody on this edge
		for room := range prev {
			if _, ok := target[room]; !ok {
				target[room] = EdgeRoomState{Room: room, Sessions: []SessionInfo{}}
			}
		}
		for room := range byRoom {
			if _, ok := target[room]; !ok {
				target[room] = EdgeRoomState{Room: room, Sessions: []SessionInfo{}}
			}
		}
	}
	rooms := make([]RoomID, 0, len(target))
	for room := range target {
		rooms = append(rooms, room)
	}
	slices.Sort(rooms)
	for _, room := range rooms {
		if err := applyRoom(ctx, tx, r.Edge, target[room], prev[room], byRoom[room], now); err != nil {
			return err
		}
	}
	if err := applyRecords(ctx, tx, r.Edge, r.Records, now); err != nil {
		return err
	}
	if r.Full {
		return loseRecords(ctx, tx, r.Edge, r.Records, errRestarted, now)
	}
	return nil
}

// applyRoom applies what edge says of one room.
func applyRoom(ctx context.Context, tx CallTx, edge string, rs EdgeRoomState, prevN int, open []OpenSession, now time.Time) error {
	if err := tx.LockRoom(ctx, rs.Room); err != nil {
		return err
	}
	if rs.Participants == 0 && rs.Sessions == nil {
		rs.Sessions = []SessionInfo{} // nobody: every session ends
	}
	if rs.Participants != prevN {
		if err := tx.SetEdgeRoom(ctx, edge, rs.Room, rs.Participants); err != nil {
			return err
		}
	}
	total, err := tx.RoomParticipants(ctx, rs.Room)
	if err != nil {
		return err
	}
	call, active, err := tx.ActiveCall(ctx, rs.Room)
	if err != nil {
		return err
	}
	if !active && total > 0 {
		rm, err := tx.Room(ctx, rs.Room)
		if errors.Is(err, ErrNotFound) {
			return endSessions(ctx, tx, open, now) // not a room of ours: no call
		}
		if err != nil {
			return err
		}
		call = Call{ID: CallID(NewID()), ClientID: rm.ClientID, SpaceID: rm.SpaceID, RoomID: rm.ID, RoomType: rm.Type,
			StartedAt: now, Participants: total, MaxParticipants: total}
		if err := tx.InsertCall(ctx, call); err != nil {
			return err
		}
		ev := WebhookEvent{ID: NewID(), Name: EventCallStarted, ClientID: rm.ClientID, SpaceID: rm.SpaceID, RoomID: rm.ID, CallID: call.ID, At: now}
		if _, err := tx.Enqueue(ctx, NewID(), ev, now); err != nil {
			return err
		}
		active = true
	} else if active {
		changed := false
		if total != call.Participants {
			call.Participants, call.MaxParticipants, changed = total, max(call.MaxParticipants, total), true
		}
		switch {
		case total == 0 && call.EmptySince == nil:
			call.EmptySince, changed = &now, true
		case total > 0 && call.EmptySince != nil:
			call.EmptySince, changed = nil, true
		}
		if changed {
			if err := tx.UpdateCall(ctx, call); err != nil {
				return err
			}
		}
	}
	if !active {
		return endSessions(ctx, tx, open, now)
	}
	if rs.Sessions == nil {
		return nil // counts only
	}
	present := make(map[string]bool, len(rs.Sessions))
	for _, p := range rs.Sessions {
		present[p.SID] = true
	}
	known := make(map[string]bool, len(open))
	for _, s := range open {
		if s.CallID == call.ID && present[s.SID] {
			known[s.SID] = true
			continue
		}
		if err := tx.EndSession(ctx, s.ClientID, s.CallID, s.SID, now); err != nil {
			return err
		}
	}
	for _, p := range rs.Sessions {
		if known[p.SID] {
			continue
		}
		known[p.SID] = true
		s := CallSession{CallID: call.ID, SID: p.SID, Identity: p.Identity, Name: p.Name, Edge: edge, JoinedAt: now}
		if err := tx.AddSession(ctx, call.ClientID, call.RoomID, s); err != nil {
			return err
		}
	}
	return nil
}

func endSessions(ctx context.Context, tx CallTx, open []OpenSession, at time.Time) error {
	for _, s := range open {
		if err := tx.EndSession(ctx, s.ClientID, s.CallID, s.SID, at); err != nil {
			return err
		}
	}
	return nil
}

// SweepCalls is Calls.SweepCalls over a backend: one transaction per
// silent edge and per call to finish, each re-checking under its locks
// what the listing found (another replica may have swept it meanwhile).
func SweepCalls(ctx context.Context, b CallBackend, silentBefore, emptyBefore time.Time) (int, error) {
	edges, err := b.SilentEdges(ctx, silentBefore)
	if err != nil {
		return 0, err
	}
	for _, edge := range edges {
		if err := b.InCallTx(ctx, func(tx CallTx) error { return forgetEdge(ctx, tx, edge, silentBefore) }); err != nil {
			return 0, fmt.Errorf("forget silent edge %s: %w", edge, err)
		}
	}
	rooms, err := b.EmptyCalls(ctx, emptyBefore)
	if err != nil {
		return 0, err
	}
	finished := 0
	for _, room := range rooms {
		done := false
		if err := b.InCallTx(ctx, func(tx CallTx) error {
			var err error
			done, err = finishCall(ctx, tx, room, emptyBefore)
			return err
		}); err != nil {
			return finished, fmt.Errorf("finish the call of room %s: %w", room, err)
		}
		if done {
			finished++
		}
	}
	return finished, nil
}

// forgetEdge empties the rooms of an edge silent since before silentBefore
// (its sessions end when it was last heard) and forgets it.
func forgetEdge(ctx context.Context, tx CallTx, edge string, silentBefore time.Time) error {
	st, err := tx.LockEdge(ctx, edge)
	if err != nil {
		return err
	}
	if st.SeenAt.IsZero() || !st.SeenAt.Before(silentBefore) {
		return nil // heard from meanwhile, or gone
	}
	prev, err := tx.EdgeRooms(ctx, edge)
	if err != nil {
		return err
	}
	open, err := tx.OpenSessions(ctx, edge)
	if err != nil {
		return err
	}
	byRoom := map[RoomID][]OpenSession{}
	for _, s := range open {
		byRoom[s.RoomID] = append(byRoom[s.RoomID], s)
	}
	rooms := make([]RoomID, 0, len(prev)+len(byRoom))
	for room := range prev {
		rooms = append(rooms, room)
	}
	for room := range byRoom {
		if _, ok := prev[room]; !ok {
			rooms = append(rooms, room)
		}
	}
	slices.Sort(rooms)
	for _, room := range rooms {
		if err := applyRoom(ctx, tx, edge, EdgeRoomState{Room: room, Sessions: []SessionInfo{}}, prev[room], byRoom[room], st.SeenAt); err != nil {
			return err
		}
	}
	if err := loseRecords(ctx, tx, edge, nil, errSilent, st.SeenAt); err != nil {
		return err
	}
	return tx.DeleteEdge(ctx, edge)
}

// finishCall finishes room's call if it is still empty since before
// emptyBefore: finished when it emptied, its open sessions ended then, and
// its call_finished queued in the same transaction.
func finishCall(ctx context.Context, tx CallTx, room RoomID, emptyBefore time.Time) (bool, error) {
	if err := tx.LockRoom(ctx, room); err != nil {
		return false, err
	}
	call, active, err := tx.ActiveCall(ctx, room)
	if err != nil || !active || call.EmptySince == nil || !call.EmptySince.Before(emptyBefore) {
		return false, err
	}
	if n, err := tx.RoomParticipants(ctx, room); err != nil || n > 0 {
		return false, err
	}
	at := *call.EmptySince
	call.FinishedAt, call.EmptySince, call.Participants = &at, nil, 0
	if err := tx.UpdateCall(ctx, call); err != nil {
		return false, err
	}
	if err := tx.EndCallSessions(ctx, call.ClientID, call.ID, at); err != nil {
		return false, err
	}
	ev := WebhookEvent{ID: NewID(), Name: EventCallFinished, ClientID: call.ClientID, SpaceID: call.SpaceID, RoomID: call.RoomID, CallID: call.ID, At: at}
	if _, err := tx.Enqueue(ctx, NewID(), ev, at); err != nil {
		return false, err
	}
	return true, nil
}
