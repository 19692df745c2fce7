package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
)

// ApplyEdgeReport applies an edge's batch in one transaction
// (store.ApplyEdgeReport over callTx): the edge's row lock serialises its
// batches whatever replica they reach, a per-room advisory lock the work
// on each room.
func (s *Store) ApplyEdgeReport(ctx context.Context, r store.EdgeReport, now time.Time) error {
	return store.ApplyEdgeReport(ctx, callBackend{s}, r, now)
}

// SweepCalls forgets silent edges and finishes empty calls
// (store.SweepCalls); every replica may sweep at once.
func (s *Store) SweepCalls(ctx context.Context, silentBefore, emptyBefore time.Time) (int, error) {
	return store.SweepCalls(ctx, callBackend{s}, silentBefore, emptyBefore)
}

type callBackend struct{ s *Store }

func (b callBackend) InCallTx(ctx context.Context, fn func(store.CallTx) error) error {
	return b.s.inTx(ctx, "calls", func(tx pgx.Tx) error { return fn(callTx{tx}) })
}

func (b callBackend) SilentEdges(ctx context.Context, before time.Time) ([]string, error) {
	rows, err := b.s.pool.Query(ctx, `SELECT edge FROM call_edges WHERE seen_at < $1`, ms(before))
	if err != nil {
		return nil, translate("silent edges", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, translate("silent edges", err)
}

func (b callBackend) EmptyCalls(ctx context.Context, before time.Time) ([]store.RoomID, error) {
	rows, err := b.s.pool.Query(ctx, `SELECT room_id FROM calls WHERE finished_at IS NULL AND empty_since IS NOT NULL AND empty_since < $1`, ms(before))
	if err != nil {
		return nil, translate("empty calls", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[store.RoomID])
	return out, translate("empty calls", err)
}

// callTx implements store.CallTx on one transaction.
type callTx struct{ tx pgx.Tx }

// roomLockSpace is the first key of the per-room advisory locks ("call").
const roomLockSpace int32 = 0x63616c6c

func (c callTx) LockEdge(ctx context.Context, edge string) (store.EdgeState, error) {
	if _, err := c.tx.Exec(ctx, `INSERT INTO call_edges (edge, boot, seq, seen_at) VALUES ($1, '', 0, 0) ON CONFLICT DO NOTHING`, edge); err != nil {
		return store.EdgeState{}, err
	}
	var st store.EdgeState
	var seq, seen int64
	if err := c.tx.QueryRow(ctx, `SELECT boot, seq, seen_at FROM call_edges WHERE edge = $1 FOR UPDATE`, edge).Scan(&st.Boot, &seq, &seen); err != nil {
		return st, err
	}
	st.Seq = uint64(seq)
	if seen != 0 {
		st.SeenAt = fromMS(seen)
	}
	return st, nil
}

func (c callTx) PutEdge(ctx context.Context, edge string, st store.EdgeState) error {
	_, err := c.tx.Exec(ctx, `UPDATE call_edges SET boot = $2, seq = $3, seen_at = $4 WHERE edge = $1`, edge, st.Boot, int64(st.Seq), ms(st.SeenAt))
	return err
}

func (c callTx) DeleteEdge(ctx context.Context, edge string) error {
	if _, err := c.tx.Exec(ctx, `DELETE FROM call_edge_rooms WHERE edge = $1`, edge); err != nil {
		return err
	}
	_, err := c.tx.Exec(ctx, `DELETE FROM call_edges WHERE edge = $1`, edge)
	return err
}

func (c callTx) EdgeRooms(ctx context.Context, edge string) (map[store.RoomID]int, error) {
	rows, err := c.tx.Query(ctx, `SELECT room_id, participants FROM call_edge_rooms WHERE edge = $1`, edge)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[store.RoomID]int{}
	for rows.Next() {
		var r store.RoomID
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			return nil, err
		}
		out[r] = n
	}
	return out, rows.Err()
}

func (c callTx) SetEdgeRoom(ctx context.Context, edge string, room store.RoomID, n int) error {
	var err error
	if n == 0 {
		_, err = c.tx.Exec(ctx, `DELETE FROM call_edge_rooms WHERE edge = $1 AND room_id = $2`, edge, room)
	} else {
		_, err = c.tx.Exec(ctx, `INSERT INTO call_edge_rooms (edge, room_id, participants) VALUES ($1, $2, $3)
			ON CONFLICT (edge, room_id) DO UPDATE SET participants = excluded.participants`, edge, room, n)
	}
	return err
}

func (c callTx) LockRoom(ctx context.Context, room store.RoomID) error {
	_, err := c.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, roomLockSpace, string(room))
	return err
}

func (c callTx) RoomParticipants(ctx context.Context, room store.RoomID) (int, error) {
	var n int
	err := c.tx.QueryRow(ctx, `SELECT COALESCE(SUM(participants), 0) FROM call_edge_rooms WHERE room_id = $1`, room).Scan(&n)
	return n, err
}

const (
	callCols  = `client_id, id, space_id, room_id, room_type, started_at, finished_at, empty_since, participants, max_participants`
	callColsC = `c.client_id, c.id, c.space_id, c.room_id, c.room_type, c.started_at, c.finished_at, c.empty_since, c.participants, c.max_participants`
	// callStats are the session counts of call c.
	callStats = `(SELECT COUNT(*) FROM call_sessions s WHERE s.client_id = c.client_id AND s.call_id = c.id),
		(SELECT COUNT(DISTINCT identity) FROM call_sessions s WHERE s.client_id = c.client_id AND s.call_id = c.id)`
)

func scanCallInto(r pgx.Row, c *store.Call, extra ...any) error {
	var started int64
	var finished, empty *int64
	dest := append([]any{&c.ClientID, &c.ID, &c.SpaceID, &c.RoomID, &c.RoomType, &started, &finished, &empty,
		&c.Participants, &c.MaxParticipants}, extra...)
	if err := r.Scan(dest...); err != nil {
		return err
	}
	c.StartedAt, c.FinishedAt, c.EmptySince = fromMS(started), fromPtr(finished), fromPtr(empty)
	return nil
}

func (c callTx) ActiveCall(ctx context.Context, room store.RoomID) (store.Call, bool, error) {
	var call store.Call
	err := scanCallInto(c.tx.QueryRow(ctx, `SELECT `+callCols+` FROM calls WHERE room_id = $1 AND finished_at IS NULL`, room), &call)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Call{}, false, nil
	}
	return call, err == nil, err
}

func (c callTx) Room(ctx context.Context, id store.RoomID) (store.Room, error) {
	r, err := scanRoom(c.tx.QueryRow(ctx, `SELECT `+roomCols+` FROM rooms WHERE id = $1`, id))
	return r, translate("room", err)
}

func (c callTx) InsertCall(ctx context.Context, call store.Call) error {
	_, err := c.tx.Exec(ctx, `INSERT INTO calls (`+callCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		call.ClientID, call.ID, call.SpaceID, call.RoomID, call.RoomType, ms(call.StartedAt), msPtr(call.FinishedAt),
		msPtr(call.EmptySince), call.Participants, call.MaxParticipants)
	return err
}

func (c callTx) UpdateCall(ctx context.Context, call store.Call) error {
	_, err := c.tx.Exec(ctx, `UPDATE calls SET participants = $1, max_participants = $2, empty_since = $3, finished_at = $4
		WHERE client_id = $5 AND id = $6`, call.Participants, call.MaxParticipants, msPtr(call.EmptySince), msPtr(call.FinishedAt),
		call.ClientID, call.ID)
	return err
}

func (c callTx) OpenSessions(ctx context.Context, edge string) ([]store.OpenSession, error) {
	rows, err := c.tx.Query(ctx, `SELECT client_id, room_id, call_id, sid, identity, name, edge, joined_at
		FROM call_sessions WHERE edge = $1 AND left_at IS NULL`, edge)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.Row) (store.OpenSession, error) {
		var s store.OpenSession
		var joined int64
		err := r.Scan(&s.ClientID, &s.RoomID, &s.CallID, &s.SID, &s.Identity, &s.Name, &s.Edge, &joined)
		s.JoinedAt = fromMS(joined)
		return s, err
	})
}

func (c callTx) AddSession(ctx context.Context, client store.ClientID, room store.RoomID, s store.CallSession) error {
	_, err := c.tx.Exec(ctx, `INSERT INTO call_sessions (client_id, call_id, sid, room_id, edge, identity, name, joined_at, left_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)
		ON CONFLICT (client_id, call_id, sid) DO UPDATE SET edge = excluded.edge, left_at = NULL`,
		client, s.CallID, s.SID, room, s.Edge, s.Identity, s.Name, ms(s.JoinedAt))
	return err
}

func (c callTx) EndSession(ctx context.Context, client store.ClientID, call store.CallID, sid string, at time.Time) error {
	_, err := c.tx.Exec(ctx, `UPDATE call_sessions SET left_at = $1 WHERE client_id = $2 AND call_id = $3 AND sid = $4 AND left_at IS NULL`,
		ms(at), client, call, sid)
	return err
}

func (c callTx) EndCallSessions(ctx context.Context, client store.ClientID, call store.CallID, at time.Time) error {
	_, err := c.tx.Exec(ctx, `UPDATE call_sessions SET left_at = $1 WHERE client_id = $2 AND call_id = $3 AND left_at IS NULL`,
		ms(at), client, call)
	return err
}

func (c callTx) Enqueue(ctx context.Context, id string, ev store.WebhookEvent, now time.Time) (bool, error) {
	return enqueue(ctx, c.tx, id, ev, "", now)
}

// ListCalls lists a space's calls matching f, newest first, with the
// total, in one snapshot.
func (s *Store) ListCalls(ctx context.Context, client store.ClientID, space store.SpaceID, f store.CallFilter, p store.Page) ([]store.Call, int, error) {
	const op = "list calls"
	p = p.Normalize()
	where := ` FROM calls c WHERE c.client_id = $1 AND c.space_id = $2`
	args := []any{client, space}
	add := func(cond string, v any) {
		args = append(args, v)
		where += " AND " + cond + " $" + strconv.Itoa(len(args))
	}
	if f.RoomID != "" {
		add("c.room_id =", f.RoomID)
	}
	if !f.From.IsZero() {
		add("c.started_at >=", ms(f.From))
	}
	if !f.To.IsZero() {
		add("c.started_at <", ms(f.To))
	}
	var out []store.Call
	var total int
	err := s.readTx(ctx, op, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM spaces WHERE client_id = $1 AND id = $2`, client, space); err != nil {
			return translate(op, err)
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*)`+where, args...).Scan(&total); err != nil {
			return err
		}
		n := len(args)
		rows, err := tx.Query(ctx, `SELECT `+callColsC+`, `+callStats+where+` ORDER BY c.started_at DESC, c.id DESC LIMIT $`+
			strconv.Itoa(n+1)+` OFFSET $`+strconv.Itoa(n+2), append(args, p.Limit, p.Offset)...)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r pgx.Row) (store.Call, error) {
			var c store.Call
			err := scanCallInto(r, &c, &c.TotalParticipants, &c.UniqueParticipants)
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// GetCall returns one call of a space.
func (s *Store) GetCall(ctx context.Context, client store.ClientID, space store.SpaceID, id store.CallID) (store.Call, error) {
	var c store.Call
	err := scanCallInto(s.pool.QueryRow(ctx, `SELECT `+callColsC+`, `+callStats+` FROM calls c
		WHERE c.client_id = $1 AND c.space_id = $2 AND c.id = $3`, client, space, id), &c, &c.TotalParticipants, &c.UniqueParticipants)
	return c, translate("get call", err)
}

// ListCallSessions lists a call's sessions by join time.
func (s *Store) ListCallSessions(ctx context.Context, client store.ClientID, space store.SpaceID, id store.CallID) ([]store.CallSession, error) {
	const op = "list call sessions"
	var out []store.CallSession
	err := s.readTx(ctx, op, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM calls WHERE client_id = $1 AND space_id = $2 AND id = $3`, client, space, id); err != nil {
			return translate(op, err)
		}
		rows, err := tx.Query(ctx, `SELECT call_id, sid, identity, name, edge, joined_at, left_at FROM call_sessions
			WHERE client_id = $1 AND call_id = $2 ORDER BY joined_at, sid`, client, id)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r pgx.Row) (store.CallSession, error) {
			var cs store.CallSession
			var joined int64
			var left *int64
			err := r.Scan(&cs.CallID, &cs.SID, &cs.Identity, &cs.Name, &cs.Edge, &joined, &left)
			cs.JoinedAt, cs.LeftAt = fromMS(joined), fromPtr(left)
			return cs, err
		})
		return err
	})
	return out, err
}
