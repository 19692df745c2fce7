package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

const waitingCols = `client_id, id, room_id, ticket_hash, identity, name, role, user_id, link_id, family,
	issued_at, session_until, state, reason, created_at, seen_at, decided_at, expires_at`

func scanWaiting(r scanner) (store.WaitingEntry, error) {
	var e store.WaitingEntry
	var issued, until, decided sql.NullInt64
	var created, seen, expires int64
	if err := r.Scan(&e.ClientID, &e.ID, &e.RoomID, &e.TicketHash, &e.Identity, &e.Name, &e.Role, &e.UserID, &e.LinkID,
		&e.Family, &issued, &until, &e.State, &e.Reason, &created, &seen, &decided, &expires); err != nil {
		return store.WaitingEntry{}, err
	}
	e.Issued, e.Until, e.DecidedAt = zeroNull(issued), zeroNull(until), zeroNull(decided)
	e.CreatedAt, e.SeenAt, e.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	return e, nil
}

// nullZero is a time as a nullable column: NULL for the zero time.
func nullZero(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func zeroNull(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

// CreateWaiting stores a new waiting entry. The INSERT takes its row from
// rooms: a missing or foreign room inserts nothing (store.ErrNotFound).
func (s *Store) CreateWaiting(ctx context.Context, e store.WaitingEntry) error {
	res, err := s.writer.ExecContext(ctx, `INSERT INTO waiting (`+waitingCols+`)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18
		FROM rooms WHERE client_id = ?1 AND id = ?3`,
		e.ClientID, e.ID, e.RoomID, e.TicketHash, e.Identity, e.Name, e.Role, e.UserID, e.LinkID, e.Family,
		nullZero(e.Issued), nullZero(e.Until), e.State, e.Reason, ms(e.CreatedAt), ms(e.SeenAt), nullZero(e.DecidedAt), ms(e.ExpiresAt))
	return s.notified(one("create waiting entry", res, err), store.TopicWaiting)
}

// GetWaitingByTicket finds an entry by its ticket's hash.
func (s *Store) GetWaitingByTicket(ctx context.Context, ticketHash string) (store.WaitingEntry, error) {
	e, err := scanWaiting(s.reader.QueryRowContext(ctx, `SELECT `+waitingCols+` FROM waiting WHERE ticket_hash = ?`, ticketHash))
	return e, translate("get waiting entry by ticket", err)
}

// GetWaiting returns one entry of a room.
func (s *Store) GetWaiting(ctx context.Context, client store.ClientID, room store.RoomID, id string) (store.WaitingEntry, error) {
	e, err := scanWaiting(s.reader.QueryRowContext(ctx, `SELECT `+waitingCols+` FROM waiting
		WHERE client_id = ? AND id = ? AND room_id = ?`, client, id, room))
	return e, translate("get waiting entry", err)
}

// ListWaiting lists the room's entries still waiting at now, oldest first.
func (s *Store) ListWaiting(ctx context.Context, client store.ClientID, room store.RoomID, now time.Time) ([]store.WaitingEntry, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+waitingCols+` FROM waiting
		WHERE client_id = ? AND room_id = ? AND state = 'waiting' AND expires_at > ?
		ORDER BY created_at, id`, client, room, ms(now))
	if err != nil {
		return nil, translate("list waiting entries", err)
	}
	return collectWaiting(rows, "list waiting entries")
}

func collectWaiting(rows *sql.Rows, op string) ([]store.WaitingEntry, error) {
	defer rows.Close()
	var out []store.WaitingEntry
	for rows.Next() {
		e, err := scanWaiting(rows)
		if err != nil {
			return nil, translate(op, err)
		}
		out = append(out, e)
	}
	return out, translate(op, rows.Err())
}

// TouchWaiting keeps an entry still waiting at now until expires. It is a
// change only when it brings the expiry forward (a page that left and may
// come back): the moderators' lists wake for the earlier expiry.
func (s *Store) TouchWaiting(ctx context.Context, client store.ClientID, id string, now, expires time.Time) error {
	const op = "touch waiting entry"
	forward := false
	err := s.inTx(ctx, op, func(tx *sql.Tx) error {
		var old int64
		err := tx.QueryRowContext(ctx, `SELECT expires_at FROM waiting
			WHERE client_id = ? AND id = ? AND state = 'waiting' AND expires_at > ?`, client, id, ms(now)).Scan(&old)
		if err != nil {
			return translate(op, err)
		}
		forward = ms(expires) < old
		_, err = tx.ExecContext(ctx, `UPDATE waiting SET seen_at = ?, expires_at = ? WHERE client_id = ? AND id = ?`,
			ms(now), ms(expires), client, id)
		return translate(op, err)
	})
	if err == nil && forward {
		s.hub.Notify(store.TopicWaiting)
	}
	return err
}

// DecideWaiting moves the entries still waiting at d.At with one
// conditional UPDATE ... RETURNING.
func (s *Store) DecideWaiting(ctx context.Context, d store.WaitingDecision) ([]store.WaitingEntry, error) {
	const op = "decide waiting entries"
	args := []any{string(d.State), d.Reason, ms(d.At), ms(d.ExpiresAt), d.ClientID, d.RoomID}
	var only string
	if len(d.IDs) > 0 {
		marks := make([]string, len(d.IDs))
		for i, id := range d.IDs {
			marks[i] = fmt.Sprintf("?%d", len(args)+1)
			args = append(args, id)
		}
		only = ` AND id IN (` + strings.Join(marks, ", ") + `)`
	}
	rows, err := s.writer.QueryContext(ctx, `UPDATE waiting SET state = ?1, reason = ?2, decided_at = ?3, expires_at = ?4
		WHERE client_id = ?5 AND room_id = ?6 AND state = 'waiting' AND expires_at > ?3`+only+`
		RETURNING `+waitingCols, args...)
	if err != nil {
		return nil, translate(op, err)
	}
	out, err := collectWaiting(rows, op)
	if err != nil {
		return nil, err
	}
	// RETURNING has no order of its own.
	slices.SortFunc(out, store.CompareWaiting)
	if len(out) > 0 {
		s.hub.Notify(store.TopicWaiting)
	}
	return out, nil
}

// DeleteWaiting removes an entry.
func (s *Store) DeleteWaiting(ctx context.Context, client store.ClientID, id string) error {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM waiting WHERE client_id = ? AND id = ?`, client, id)
	return s.notified(one("delete waiting entry", res, err), store.TopicWaiting)
}

// FindRefusedWaiting returns the latest unexpired refusal of link or user
// in room.
func (s *Store) FindRefusedWaiting(ctx context.Context, client store.ClientID, room store.RoomID, linkID string, user store.UserID, now time.Time) (store.WaitingEntry, error) {
	const op = "find refused waiting entry"
	var latest store.WaitingEntry
	found := false
	for _, q := range []struct{ col, val string }{{"link_id", linkID}, {"user_id", string(user)}} {
		if q.val == "" {
			continue
		}
		// One partial index per column: the two lookups stay index
		// searches, which an OR would not.
		e, err := scanWaiting(s.reader.QueryRowContext(ctx, `SELECT `+waitingCols+` FROM waiting
			WHERE client_id = ? AND room_id = ? AND `+q.col+` = ? AND state = 'refused' AND `+q.col+` <> '' AND expires_at > ?
			ORDER BY decided_at DESC LIMIT 1`, client, room, q.val, ms(now)))
		switch {
		case err == nil:
			if !found || e.DecidedAt.After(latest.DecidedAt) {
				latest, found = e, true
			}
		case !errors.Is(err, sql.ErrNoRows):
			return store.WaitingEntry{}, translate(op, err)
		}
	}
	if !found {
		return store.WaitingEntry{}, fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return latest, nil
}

// PruneWaiting forgets the entries expired at now.
func (s *Store) PruneWaiting(ctx context.Context, now time.Time) (int, error) {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM waiting WHERE expires_at <= ?`, ms(now))
	if err != nil {
		return 0, translate("prune waiting entries", err)
	}
	n, err := res.RowsAffected()
	return int(n), translate("prune waiting entries", err)
}
