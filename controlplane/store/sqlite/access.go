package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func scanLink(r scanner) (store.AccessLink, error) {
	var l store.AccessLink
	var permanent, created, expires int64
	var used sql.NullInt64
	if err := r.Scan(&l.ClientID, &l.ID, &l.SpaceID, &l.RoomID, &l.Username, &l.Role, &l.ExternalUserID,
		&l.ExternalMeetingID, &l.Email, &l.Phone, &permanent, &l.CreatedBy, &created, &expires, &used,
		&l.Uses); err != nil {
		return store.AccessLink{}, err
	}
	l.IsPermanent = permanent != 0
	l.CreatedAt = fromMS(created)
	l.ExpiresAt = fromMS(expires)
	l.UsedAt = fromNull(used)
	return l, nil
}

// CreateAccessLink stores a link to a room. A room that is not in the
// link's space of the client gives store.ErrNotFound, a used id
// store.ErrConflict.
func (s *Store) CreateAccessLink(ctx context.Context, l store.AccessLink) error {
	res, err := s.st.insertLink.ExecContext(ctx, l.ClientID, l.ID, l.SpaceID, l.RoomID, l.Username, l.Role,
		l.ExternalUserID, l.ExternalMeetingID, l.Email, l.Phone, boolInt(l.IsPermanent), l.CreatedBy,
		ms(l.CreatedAt), ms(l.ExpiresAt), msPtr(l.UsedAt), l.Uses)
	return one("create access link", res, err)
}

// GetAccessLink returns one link of the client.
func (s *Store) GetAccessLink(ctx context.Context, client store.ClientID, id string) (store.AccessLink, error) {
	l, err := scanLink(s.st.getLink.QueryRowContext(ctx, client, id))
	return l, translate("get access link", err)
}

// RedeemAccessLink spends a single-use link, or counts a use of a permanent
// one, with one conditional UPDATE ... RETURNING: of any number of
// concurrent redeemers of a single-use link exactly one gets a row. UsedAt
// becomes now (for a permanent link, the latest use). When no row matched it
// tells store.ErrExpired (past ExpiresAt, used or not) from store.ErrUsed
// and store.ErrNotFound.
func (s *Store) RedeemAccessLink(ctx context.Context, client store.ClientID, id string, now time.Time) (store.AccessLink, error) {
	const op = "redeem access link"
	l, err := scanLink(s.st.redeemLink.QueryRowContext(ctx, client, id, ms(now)))
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.AccessLink{}, translate(op, err)
	}
	// No row: the link is missing, expired or spent. Spent and expired are
	// final states, so a read after the failed update decides correctly.
	var expires int64
	if err := s.st.linkState.QueryRowContext(ctx, client, id).Scan(&expires); err != nil {
		return store.AccessLink{}, translate(op, err)
	}
	if expires <= ms(now) {
		return store.AccessLink{}, fmt.Errorf("sqlite: %s: %w", op, store.ErrExpired)
	}
	return store.AccessLink{}, fmt.Errorf("sqlite: %s: %w", op, store.ErrUsed)
}
