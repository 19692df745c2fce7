package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// ApplyEdgeReport applies an edge's batch in one IMMEDIATE transaction
// (store.ApplyEdgeReport over callTx): the single writer serialises every
// report, so the locks of store.CallTx are implicit.
func (s *Store) ApplyEdgeReport(ctx context.Context, r store.EdgeReport, now time.Time) error {
	return s.notifiedDeliveries(store.ApplyEdgeReport(ctx, callBackend{s}, r, now))
}

// SweepCalls forgets silent edges and finishes empty calls
// (store.SweepCalls).
func (s *Store) SweepCalls(ctx context.Context, silentBefore, emptyBefore time.Time) (int, error) {
	n, err := store.SweepCalls(ctx, callBackend{s}, silentBefore, emptyBefore)
	if n > 0 {
		s.hub.Notify(store.TopicDeliveries)
	}
	return n, err
}

// notifiedDeliveries tells the listeners a delivery may have been queued.
func (s *Store) notifiedDeliveries(err error) error {
	return s.notified(err, store.TopicDeliveries)
}

type callBackend struct{ s *Store }

func (b callBackend) InCallTx(ctx context.Context, fn func(store.CallTx) error) error {
	return b.s.inTx(ctx, "calls", func(tx *sql.Tx) error { return fn(callTx{tx}) })
}

func (b callBackend) SilentEdges(ctx context.Context, before time.Time) ([]string, error) {
	rows, err := b.s.reader.QueryContext(ctx, `SELECT edge FROM call_edges WHERE seen_at < ?`, ms(before))
	if err != nil {
		return nil, translate("silent edges", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, translate("silent edges", err)
		}
		out = append(out, e)
	}
	return out, translate("silent edges", rows.Err())
}

func (b callBackend) EmptyCalls(ctx context.Context, before time.Time) ([]store.RoomID, error) {
	rows, err := b.s.reader.QueryContext(ctx, `SELECT room_id FROM calls WHERE finished_at IS NULL AND empty_since IS NOT NULL AND empty_since < ?`, ms(before))
	if err != nil {
		return nil, translate("empty calls", err)
	}
	defer rows.Close()
	var out []store.RoomID
	for rows.Next() {
		var r store.RoomID
		if err := rows.Scan(&r); err != nil {
			return nil, translate("empty calls", err)
		}
		out = append(out, r)
	}
	return out, translate("empty calls", rows.Err())
}

// callTx implements store.CallTx on the writer's transaction.
type callTx struct{ tx *sql.Tx }

func (c callTx) LockEdge(ctx context.Context, edge string) (store.EdgeState, error) {
	var st store.EdgeState
	var seq, seen int64
	err := c.tx.QueryRowContext(ctx, `SELECT boot, seq, seen_at FROM call_edges WHERE edge = ?`, edge).Scan(&st.Boot, &seq, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return store.EdgeState{}, nil
	}
	if err != nil {
		return st, translate("lock edge", err)
	}
	st.Seq, st.SeenAt = uint64(seq), fromMS(seen)
	return st, nil
}

func (c callTx) PutEdge(ctx context.Context, edge string, st store.EdgeState) error {
	_, err := c.tx.ExecContext(ctx, `INSERT INTO call_edges (edge, boot, seq, seen_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (edge) DO UPDATE SET boot = excluded.boot, seq = excluded.seq, seen_at = excluded.seen_at`,
		edge, st.Boot, int64(st.Seq), ms(st.SeenAt))
	return translate("put edge", err)
}

func (c callTx) DeleteEdge(ctx context.Context, edge string) error {
	if _, err := c.tx.ExecContext(ctx, `DELETE FROM call_edge_rooms WHERE edge = ?`, edge); err != nil {
		return translate("delete edge", err)
	}
	_, err := c.tx.ExecContext(ctx, `DELETE FROM call_edges WHERE edge = ?`, edge)
	return translate("delete edge", err)
}

func (c callTx) EdgeRooms(ctx context.Context, edge string) (map[store.RoomID]int, error) {
	rows, err := c.tx.QueryContext(ctx, `SELECT room_id, participants FROM call_edge_rooms WHERE edge = ?`, edge)
	if err != nil {
		return nil, translate("edge rooms", err)
	}
	defer rows.Close()
	out := map[store.RoomID]int{}
	for rows.Next() {
		var r store.RoomID
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			return nil, translate("edge rooms", err)
		}
		out[r] = n
	}
	return out, translate("edge rooms", rows.Err())
}

func (c callTx) SetEdgeRoom(ctx context.Context, edge string, room store.RoomID, n int) error {
	var err error
	if n == 0 {
		_, err = c.tx.ExecContext(ctx, `DELETE FROM call_edge_rooms WHERE edge = ? AND room_id = ?`, edge, room)
	} else {
		_, err = c.tx.ExecContext(ctx, `INSERT INTO call_edge_rooms (edge, room_id, participants) VALUES (?, ?, ?)
			ON CONFLICT (edge, room_id) DO UPDATE SET participants = excluded.participants`, edge, room, n)
	}
	return translate("set edge room", err)
}

func (callTx) LockRoom(context.Context, store.RoomID) error { return nil } // one writer

func (c callTx) RoomParticipants(ctx context.Context, room store.RoomID) (int, error) {
	var n int
	err := c.tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(participants), 0) FROM call_edge_rooms WHERE room_id = ?`, room).Scan(&n)
	return n, translate("room participants", err)
}

const callCols = `client_id, id, space_id, room_id, room_type, started_at, finished_at, empty_since, participants, max_participants`

func scanCall(r scanner) (store.Call, error) {
	var c store.Call
	return c, scanCallInto(r, &c)
}

// scanCallInto scans callCols, then extra.
func scanCallInto(r scanner, c *store.Call, extra ...any) error {
	var started int64
	var finished, empty sql.NullInt64
	dest := append([]any{&c.ClientID, &c.ID, &c.SpaceID, &c.RoomID, &c.RoomType, &started, &finished, &empty,
		&c.Participants, &c.MaxParticipants}, extra...)
	if err := r.Scan(dest...); err != nil {
		return err
	}
	c.StartedAt = fromMS(started)
	c.FinishedAt = fromNull(finished)
	c.EmptySince = fromNull(empty)
	return nil
}

func (c callTx) ActiveCall(ctx context.Context, room store.RoomID) (store.Call, bool, error) {
	call, err := scanCall(c.tx.QueryRowContext(ctx, `SELECT `+callCols+` FROM calls WHERE room_id = ? AND finished_at IS NULL`, room))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Call{}, false, nil
	}
	return call, err == nil, translate("active call", err)
}

func (c callTx) Room(ctx context.Context, id store.RoomID) (store.Room, error) {
	r, err := scanRoom(c.tx.QueryRowContext(ctx, `SELECT `+roomCols+` FROM rooms WHERE id = ?`, id))
	return r, translate("room", err)
}

func (c callTx) InsertCall(ctx context.Context, call store.Call) error {
	_, err := c.tx.ExecContext(ctx, `INSERT INTO calls (`+callCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		call.ClientID, call.ID, call.SpaceID, call.RoomID, call.RoomType, ms(call.StartedAt), msPtr(call.FinishedAt),
		msPtr(call.EmptySince), call.Participants, call.MaxParticipants)
	return translate("insert call", err)
}

func (c callTx) UpdateCall(ctx context.Context, call store.Call) error {
	_, err := c.tx.ExecContext(ctx, `UPDATE calls SET participants = ?, max_participants = ?, empty_since = ?, finished_at = ?
		WHERE client_id = ? AND id = ?`, call.Participants, call.MaxParticipants, msPtr(call.EmptySince), msPtr(call.FinishedAt),
		call.ClientID, call.ID)
	return translate("update call", err)
}

func (c callTx) OpenSessions(ctx context.Context, edge string) ([]store.OpenSession, error) {
	rows, err := c.tx.QueryContext(ctx, `SELECT client_id, room_id, call_id, sid, identity, name, edge, joined_at
		FROM call_sessions WHERE edge = ? AND left_at IS NULL`, edge)
	if err != nil {
		return nil, translate("open sessions", err)
	}
	defer rows.Close()
	var out []store.OpenSession
	for rows.Next() {
		var s store.OpenSession
		var joined int64
		if err := rows.Scan(&s.ClientID, &s.RoomID, &s.CallID, &s.SID, &s.Identity, &s.Name, &s.Edge, &joined); err != nil {
			return nil, translate("open sessions", err)
		}
		s.JoinedAt = fromMS(joined)
		out = append(out, s)
	}
	return out, translate("open sessions", rows.Err())
}

func (c callTx) AddSession(ctx context.Context, client store.ClientID, room store.RoomID, s store.CallSession) error {
	_, err := c.tx.ExecContext(ctx, `INSERT INTO call_sessions (client_id, call_id, sid, room_id, edge, identity, name, joined_at, left_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)
		ON CONFLICT (client_id, call_id, sid) DO UPDATE SET edge = excluded.edge, left_at = NULL`,
		client, s.CallID, s.SID, room, s.Edge, s.Identity, s.Name, ms(s.JoinedAt))
	return translate("add session", err)
}

func (c callTx) EndSession(ctx context.Context, client store.ClientID, call store.CallID, sid string, at time.Time) error {
	_, err := c.tx.ExecContext(ctx, `UPDATE call_sessions SET left_at = ? WHERE client_id = ? AND call_id = ? AND sid = ? AND left_at IS NULL`,
		ms(at), client, call, sid)
	return translate("end session", err)
}

func (c callTx) EndCallSessions(ctx context.Context, client store.ClientID, call store.CallID, at time.Time) error {
	_, err := c.tx.ExecContext(ctx, `UPDATE call_sessions SET left_at = ? WHERE client_id = ? AND call_id = ? AND left_at IS NULL`,
		ms(at), client, call)
	return translate("end call sessions", err)
}

func (c callTx) Enqueue(ctx context.Context, id string, ev store.WebhookEvent, now time.Time) (bool, error) {
	return enqueue(ctx, c.tx, id, ev, "", now)
}

// callStats are the session counts ListCalls and GetCall add to a call.
const callStats = `(SELECT COUNT(*) FROM call_sessions s WHERE s.client_id = c.client_id AND s.call_id = c.id),
	(SELECT COUNT(DISTINCT identity) FROM call_sessions s WHERE s.client_id = c.client_id AND s.call_id = c.id)`

const callColsC = `c.client_id, c.id, c.space_id, c.room_id, c.room_type, c.started_at, c.finished_at, c.empty_since, c.participants, c.max_participants`

// ListCalls lists a space's calls matching f, newest first, with the
// total.
func (s *Store) ListCalls(ctx context.Context, client store.ClientID, space store.SpaceID, f store.CallFilter, p store.Page) ([]store.Call, int, error) {
	const op = "list calls"
	p = p.Normalize()
	where := ` FROM calls c WHERE c.client_id = ? AND c.space_id = ?`
	args := []any{client, space}
	if f.RoomID != "" {
		where += ` AND c.room_id = ?`
		args = append(args, f.RoomID)
	}
	if !f.From.IsZero() {
		where += ` AND c.started_at >= ?`
		args = append(args, ms(f.From))
	}
	if !f.To.IsZero() {
		where += ` AND c.started_at < ?`
		args = append(args, ms(f.To))
	}
	var out []store.Call
	var total int
	err := s.readTx(ctx, op, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, s.st.spaceExists, client, space); err != nil {
			return translate(op, err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*)`+where, args...).Scan(&total); err != nil {
			return translate(op, err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+callColsC+`, `+callStats+where+` ORDER BY c.started_at DESC, c.id DESC LIMIT ? OFFSET ?`,
			append(args, p.Limit, p.Offset)...)
		if err != nil {
			return translate(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			var c store.Call
			if err := scanCallInto(rows, &c, &c.TotalParticipants, &c.UniqueParticipants); err != nil {
				return translate(op, err)
			}
			out = append(out, c)
		}
		return translate(op, rows.Err())
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// GetCall returns one call of a space.
func (s *Store) GetCall(ctx context.Context, client store.ClientID, space store.SpaceID, id store.CallID) (store.Call, error) {
	var c store.Call
	err := scanCallInto(s.reader.QueryRowContext(ctx, `SELECT `+callColsC+`, `+callStats+` FROM calls c
		WHERE c.client_id = ? AND c.space_id = ? AND c.id = ?`, client, space, id), &c, &c.TotalParticipants, &c.UniqueParticipants)
	return c, translate("get call", err)
}

// ListCallSessions lists a call's sessions by join time.
func (s *Store) ListCallSessions(ctx context.Context, client store.ClientID, space store.SpaceID, id store.CallID) ([]store.CallSession, error) {
	const op = "list call sessions"
	var out []store.CallSession
	err := s.readTx(ctx, op, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM calls WHERE client_id = ? AND space_id = ? AND id = ?`, client, space, id).Scan(&one); err != nil {
			return translate(op, err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT call_id, sid, identity, name, edge, joined_at, left_at FROM call_sessions
			WHERE client_id = ? AND call_id = ? ORDER BY joined_at, sid`, client, id)
		if err != nil {
			return translate(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			var cs store.CallSession
			var joined int64
			var left sql.NullInt64
			if err := rows.Scan(&cs.CallID, &cs.SID, &cs.Identity, &cs.Name, &cs.Edge, &joined, &left); err != nil {
				return translate(op, err)
			}
			cs.JoinedAt, cs.LeftAt = fromMS(joined), fromNull(left)
			out = append(out, cs)
		}
		return translate(op, rows.Err())
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
