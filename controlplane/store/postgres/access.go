package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
)

const linkCols = `client_id, id, space_id, room_id, username, role, external_user_id, external_meeting_id,
	email, phone, is_permanent, created_by, created_at, expires_at, used_at, uses`

func scanLink(r pgx.Row) (store.AccessLink, error) {
	var l store.AccessLink
	var created, expires int64
	var used *int64
	var uses int32
	if err := r.Scan(&l.ClientID, &l.ID, &l.SpaceID, &l.RoomID, &l.Username, &l.Role, &l.ExternalUserID,
		&l.ExternalMeetingID, &l.Email, &l.Phone, &l.IsPermanent, &l.CreatedBy, &created, &expires, &used, &uses); err != nil {
		return store.AccessLink{}, err
	}
	l.CreatedAt = fromMS(created)
	l.ExpiresAt = fromMS(expires)
	l.UsedAt = fromPtr(used)
	l.Uses = int(uses)
	return l, nil
}

// CreateAccessLink stores a link to a room. A room that is not in the
// link's space of the client gives store.ErrNotFound, a used id
// store.ErrConflict.
func (s *Store) CreateAccessLink(ctx context.Context, l store.AccessLink) error {
	// The INSERT takes its row from rooms: a room outside the link's space
	// inserts nothing.
	tag, err := s.pool.Exec(ctx, `INSERT INTO access_links (`+linkCols+`)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
		FROM rooms WHERE client_id = $1 AND space_id = $3 AND id = $4`,
		l.ClientID, l.ID, l.SpaceID, l.RoomID, l.Username, l.Role, l.ExternalUserID, l.ExternalMeetingID, l.Email, l.Phone,
		l.IsPermanent, l.CreatedBy, ms(l.CreatedAt), ms(l.ExpiresAt), msPtr(l.UsedAt), int32(l.Uses))
	return one("create access link", tag, err)
}

// GetAccessLink returns one link of the client.
func (s *Store) GetAccessLink(ctx context.Context, client store.ClientID, id string) (store.AccessLink, error) {
	l, err := scanLink(s.pool.QueryRow(ctx, `SELECT `+linkCols+` FROM access_links WHERE client_id = $1 AND id = $2`, client, id))
	return l, translate("get access link", err)
}

// RedeemAccessLink spends a single-use link, or counts a use of a permanent
// one, with one conditional UPDATE ... RETURNING. Concurrent redeemers of
// one link, on any replica, queue on its row lock; each re-evaluates the
// condition against the row the previous one committed, so exactly one
// finds it unused. When no row matched it tells store.ErrExpired from
// store.ErrUsed and store.ErrNotFound.
func (s *Store) RedeemAccessLink(ctx context.Context, client store.ClientID, id string, now time.Time) (store.AccessLink, error) {
	const op = "redeem access link"
	l, err := scanLink(s.pool.QueryRow(ctx, `UPDATE access_links SET used_at = $3, uses = uses + 1
		WHERE client_id = $1 AND id = $2 AND expires_at > $3 AND (is_permanent OR used_at IS NULL)
		RETURNING `+linkCols, client, id, ms(now)))
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.AccessLink{}, translate(op, err)
	}
	// Spent and expired are final states: a read after the failed update
	// decides correctly.
	var expires int64
	if err := s.pool.QueryRow(ctx, `SELECT expires_at FROM access_links WHERE client_id = $1 AND id = $2`, client, id).Scan(&expires); err != nil {
		return store.AccessLink{}, translate(op, err)
	}
	if expires <= ms(now) {
		return store.AccessLink{}, fmt.Errorf("postgres: %s: %w", op, store.ErrExpired)
	}
	return store.AccessLink{}, fmt.Errorf("postgres: %s: %w", op, store.ErrUsed)
}
