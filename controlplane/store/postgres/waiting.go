package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
)

const waitingCols = `client_id, id, room_id, ticket_hash, identity, name, role, user_id, link_id, family,
	issued_at, session_until, state, reason, created_at, seen_at, decided_at, expires_at`

func scanWaiting(r pgx.Row) (store.WaitingEntry, error) {
	var e store.WaitingEntry
	var issued, until, decided *int64
	var created, seen, expires int64
	var state string
	if err := r.Scan(&e.ClientID, &e.ID, &e.RoomID, &e.TicketHash, &e.Identity, &e.Name, &e.Role, &e.UserID, &e.LinkID,
		&e.Family, &issued, &until, &state, &e.Reason, &created, &seen, &decided, &expires); err != nil {
		return store.WaitingEntry{}, err
	}
	e.State = store.WaitingState(state)
	e.Issued, e.Until, e.DecidedAt = zeroPtr(issued), zeroPtr(until), zeroPtr(decided)
	e.CreatedAt, e.SeenAt, e.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	return e, nil
}

// ptrZero is a time as a nullable column: NULL for the zero time.
func ptrZero(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

func zeroPtr(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return fromMS(*v)
}

// CreateWaiting stores a new waiting entry. The INSERT takes its row from
// rooms: a missing or foreign room inserts nothing (store.ErrNotFound).
func (s *Store) CreateWaiting(ctx context.Context, e store.WaitingEntry) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO waiting (`+waitingCols+`)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18
		FROM rooms WHERE client_id = $1 AND id = $3`,
		e.ClientID, e.ID, e.RoomID, e.TicketHash, e.Identity, e.Name, e.Role, e.UserID, e.LinkID, e.Family,
		ptrZero(e.Issued), ptrZero(e.Until), string(e.State), e.Reason, ms(e.CreatedAt), ms(e.SeenAt), ptrZero(e.DecidedAt), ms(e.ExpiresAt))
	return one("create waiting entry", tag, err)
}

// GetWaitingByTicket finds an entry by its ticket's hash.
func (s *Store) GetWaitingByTicket(ctx context.Context, ticketHash string) (store.WaitingEntry, error) {
	e, err := scanWaiting(s.pool.QueryRow(ctx, `SELECT `+waitingCols+` FROM waiting WHERE ticket_hash = $1`, ticketHash))
	return e, translate("get waiting entry by ticket", err)
}

// GetWaiting returns one entry of a room.
func (s *Store) GetWaiting(ctx context.Context, client store.ClientID, room store.RoomID, id string) (store.WaitingEntry, error) {
	e, err := scanWaiting(s.pool.QueryRow(ctx, `SELECT `+waitingCols+` FROM waiting
		WHERE client_id = $1 AND id = $2 AND room_id = $3`, client, id, room))
	return e, translate("get waiting entry", err)
}

// ListWaiting lists the room's entries still waiting at now, oldest first.
func (s *Store) ListWaiting(ctx context.Context, client store.ClientID, room store.RoomID, now time.Time) ([]store.WaitingEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+waitingCols+` FROM waiting
		WHERE client_id = $1 AND room_id = $2 AND state = 'waiting' AND expires_at > $3
		ORDER BY created_at, id`, client, room, ms(now))
	if err != nil {
		return nil, translate("list waiting entries", err)
	}
	return collectWaiting(rows, "list waiting entries")
}

func collectWaiting(rows pgx.Rows, op string) ([]store.WaitingEntry, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.WaitingEntry, error) { return scanWaiting(r) })
	return out, translate(op, err)
}

// TouchWaiting keeps an entry still waiting at now until expires. The
// update trigger makes it a change only when it brings the expiry
// forward.
func (s *Store) TouchWaiting(ctx context.Context, client store.ClientID, id string, now, expires time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE waiting SET seen_at = $3, expires_at = $4
		WHERE client_id = $1 AND id = $2 AND state = 'waiting' AND expires_at > $3`, client, id, ms(now), ms(expires))
	return one("touch waiting entry", tag, err)
}

// DecideWaiting moves the entries still waiting at d.At with one
// conditional UPDATE ... RETURNING: concurrent deciders of one entry queue
// on its row lock, and each re-checks the state the previous one
// committed, so exactly one moves it.
func (s *Store) DecideWaiting(ctx context.Context, d store.WaitingDecision) ([]store.WaitingEntry, error) {
	const op = "decide waiting entries"
	var ids []string
	if len(d.IDs) > 0 {
		ids = d.IDs
	}
	rows, err := s.pool.Query(ctx, `UPDATE waiting SET state = $1, reason = $2, decided_at = $3, expires_at = $4
		WHERE client_id = $5 AND room_id = $6 AND state = 'waiting' AND expires_at > $3
		  AND ($7::text[] IS NULL OR id = ANY($7::text[]))
		RETURNING `+waitingCols,
		string(d.State), d.Reason, ms(d.At), ms(d.ExpiresAt), d.ClientID, d.RoomID, ids)
	if err != nil {
		return nil, translate(op, err)
	}
	out, err := collectWaiting(rows, op)
	if err != nil {
		return nil, err
	}
	// RETURNING has no order of its own.
	slices.SortFunc(out, store.CompareWaiting)
	return out, nil
}

// DeleteWaiting removes an entry.
func (s *Store) DeleteWaiting(ctx context.Context, client store.ClientID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM waiting WHERE client_id = $1 AND id = $2`, client, id)
	return one("delete waiting entry", tag, err)
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
		e, err := scanWaiting(s.pool.QueryRow(ctx, `SELECT `+waitingCols+` FROM waiting
			WHERE client_id = $1 AND room_id = $2 AND `+q.col+` = $3 AND state = 'refused' AND `+q.col+` <> '' AND expires_at > $4
			ORDER BY decided_at DESC LIMIT 1`, client, room, q.val, ms(now)))
		switch {
		case err == nil:
			if !found || e.DecidedAt.After(latest.DecidedAt) {
				latest, found = e, true
			}
		case !errors.Is(err, pgx.ErrNoRows):
			return store.WaitingEntry{}, translate(op, err)
		}
	}
	if !found {
		return store.WaitingEntry{}, fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return latest, nil
}

// PruneWaiting forgets the entries expired at now.
func (s *Store) PruneWaiting(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM waiting WHERE expires_at <= $1`, ms(now))
	if err != nil {
		return 0, translate("prune waiting entries", err)
	}
	return int(tag.RowsAffected()), nil
}
