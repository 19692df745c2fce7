package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
)

const (
	spaceCols  = `client_id, id, owner_id, name, description, logo, is_public, allowed_origins, created_at, updated_at`
	inviteCols = `client_id, id, space_id, role, created_by, created_at, expires_at, used_by, used_at`
)

// spaceRank orders space roles so that an upsert never lowers one.
const spaceRank = `CASE %s WHEN 'role_space_owner' THEN 3 WHEN 'role_space_moderator' THEN 2 WHEN 'role_space_user' THEN 1 ELSE 0 END`

func origins(o []string) []string {
	if o == nil {
		return []string{}
	}
	return o
}

func scanSpace(r pgx.Row) (store.Space, error) {
	var sp store.Space
	var created, updated int64
	if err := r.Scan(&sp.ClientID, &sp.ID, &sp.OwnerID, &sp.Name, &sp.Description, &sp.Logo,
		&sp.IsPublic, &sp.AllowedOrigins, &created, &updated); err != nil {
		return store.Space{}, err
	}
	if len(sp.AllowedOrigins) == 0 {
		sp.AllowedOrigins = nil
	}
	sp.CreatedAt = fromMS(created)
	sp.UpdatedAt = fromMS(updated)
	return sp, nil
}

// CreateSpace stores the space and makes its owner a member with
// store.SpaceRoleOwner, in one transaction.
func (s *Store) CreateSpace(ctx context.Context, sp store.Space) error {
	const op = "create space"
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO spaces (`+spaceCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			sp.ClientID, sp.ID, sp.OwnerID, sp.Name, sp.Description, sp.Logo, sp.IsPublic, origins(sp.AllowedOrigins),
			ms(sp.CreatedAt), ms(sp.UpdatedAt)); err != nil {
			return translate(op, err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO space_members (client_id, space_id, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (client_id, space_id, user_id) DO UPDATE SET role = excluded.role`,
			sp.ClientID, sp.ID, sp.OwnerID, store.SpaceRoleOwner, ms(sp.CreatedAt))
		return translate(op, err)
	})
}

// GetSpace returns one space of the client.
func (s *Store) GetSpace(ctx context.Context, client store.ClientID, id store.SpaceID) (store.Space, error) {
	sp, err := scanSpace(s.pool.QueryRow(ctx, `SELECT `+spaceCols+` FROM spaces WHERE client_id = $1 AND id = $2`, client, id))
	return sp, translate("get space", err)
}

// ListSpacesForUser lists the spaces the user owns or is a member of,
// newest first, with their total. An unknown user gives store.ErrNotFound.
func (s *Store) ListSpacesForUser(ctx context.Context, client store.ClientID, user store.UserID, p store.Page) ([]store.Space, int, error) {
	const op = "list spaces"
	p = p.Normalize()
	var out []store.Space
	var total int
	const visible = `SELECT space_id FROM space_members WHERE client_id = $1 AND user_id = $2
		UNION SELECT id FROM spaces WHERE client_id = $1 AND owner_id = $2`
	err := s.readTx(ctx, op, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM users WHERE client_id = $1 AND id = $2`, client, user); err != nil {
			return translate(op, err)
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM (`+visible+`) v`, client, user).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+spaceCols+` FROM spaces WHERE client_id = $1 AND id IN (`+visible+`)
			ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`, client, user, p.Limit, p.Offset)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanSpace)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateSpace replaces the mutable fields and UpdatedAt.
func (s *Store) UpdateSpace(ctx context.Context, sp store.Space) error {
	tag, err := s.pool.Exec(ctx, `UPDATE spaces SET name = $1, description = $2, logo = $3, is_public = $4, allowed_origins = $5,
		updated_at = $6 WHERE client_id = $7 AND id = $8`,
		sp.Name, sp.Description, sp.Logo, sp.IsPublic, origins(sp.AllowedOrigins), ms(sp.UpdatedAt), sp.ClientID, sp.ID)
	return one("update space", tag, err)
}

// DeleteSpace removes the space with its rooms, members, invites and
// webhook (foreign-key cascades) and its access links, in one transaction.
func (s *Store) DeleteSpace(ctx context.Context, client store.ClientID, id store.SpaceID) error {
	const op = "delete space"
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM spaces WHERE client_id = $1 AND id = $2`, client, id)
		if err := one(op, tag, err); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM access_links WHERE client_id = $1 AND space_id = $2`, client, id)
		return err
	})
}

func scanSpaceMember(r pgx.Row) (store.SpaceMember, error) {
	var m store.SpaceMember
	var created int64
	if err := r.Scan(&m.SpaceID, &m.UserID, &m.Role, &created); err != nil {
		return store.SpaceMember{}, err
	}
	m.CreatedAt = fromMS(created)
	return m, nil
}

// GetSpaceMember returns a user's membership of a space.
func (s *Store) GetSpaceMember(ctx context.Context, client store.ClientID, space store.SpaceID, user store.UserID) (store.SpaceMember, error) {
	m, err := scanSpaceMember(s.pool.QueryRow(ctx, `SELECT space_id, user_id, role, created_at FROM space_members
		WHERE client_id = $1 AND space_id = $2 AND user_id = $3`, client, space, user))
	return m, translate("get space member", err)
}

// ListSpaceMembers lists a space's members, oldest first. An unknown space
// gives store.ErrNotFound.
func (s *Store) ListSpaceMembers(ctx context.Context, client store.ClientID, space store.SpaceID) ([]store.SpaceMember, error) {
	const op = "list space members"
	var out []store.SpaceMember
	err := s.readTx(ctx, op, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM spaces WHERE client_id = $1 AND id = $2`, client, space); err != nil {
			return translate(op, err)
		}
		rows, err := tx.Query(ctx, `SELECT space_id, user_id, role, created_at FROM space_members
			WHERE client_id = $1 AND space_id = $2 ORDER BY created_at, user_id`, client, space)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanSpaceMember)
		return err
	})
	return out, err
}

func scanInvite(r pgx.Row) (store.Invite, error) {
	var inv store.Invite
	var created int64
	var expires, used *int64
	if err := r.Scan(&inv.ClientID, &inv.ID, &inv.SpaceID, &inv.Role, &inv.CreatedBy, &created,
		&expires, &inv.UsedBy, &used); err != nil {
		return store.Invite{}, err
	}
	inv.CreatedAt = fromMS(created)
	inv.ExpiresAt = fromPtr(expires)
	inv.UsedAt = fromPtr(used)
	return inv, nil
}

// CreateInvite stores an invite into a space of the client.
func (s *Store) CreateInvite(ctx context.Context, inv store.Invite) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO invites (`+inviteCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		inv.ClientID, inv.ID, inv.SpaceID, inv.Role, inv.CreatedBy, ms(inv.CreatedAt), msPtr(inv.ExpiresAt), inv.UsedBy, msPtr(inv.UsedAt))
	return translate("create invite", err)
}

// GetInvite returns one invite of a space.
func (s *Store) GetInvite(ctx context.Context, client store.ClientID, space store.SpaceID, id string) (store.Invite, error) {
	inv, err := scanInvite(s.pool.QueryRow(ctx, `SELECT `+inviteCols+` FROM invites WHERE client_id = $1 AND space_id = $2 AND id = $3`,
		client, space, id))
	return inv, translate("get invite", err)
}

// ActivateInvite spends the invite for user and makes the user a member
// with the invite's role unless it already has a higher one, in one
// transaction: the conditional UPDATE lets exactly one caller through
// (concurrent ones wait for its row lock and then find the invite used).
func (s *Store) ActivateInvite(ctx context.Context, client store.ClientID, space store.SpaceID, id string, user store.UserID, now time.Time) (store.Invite, error) {
	const op = "activate invite"
	var inv store.Invite
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		var err error
		inv, err = scanInvite(tx.QueryRow(ctx, `UPDATE invites SET used_by = $4, used_at = $5
			WHERE client_id = $1 AND space_id = $2 AND id = $3 AND used_at IS NULL AND (expires_at IS NULL OR expires_at > $5)
			RETURNING `+inviteCols, client, space, id, user, ms(now)))
		if errors.Is(err, pgx.ErrNoRows) {
			return inviteRefusal(ctx, tx, client, space, id, now)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO space_members AS m (client_id, space_id, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (client_id, space_id, user_id) DO UPDATE SET role = excluded.role
			WHERE `+fmt.Sprintf(spaceRank, "excluded.role")+` > `+fmt.Sprintf(spaceRank, "m.role"),
			client, space, user, inv.Role, ms(now))
		return err
	})
	if err != nil {
		return store.Invite{}, err
	}
	return inv, nil
}

// inviteRefusal says why the activation UPDATE matched no row.
func inviteRefusal(ctx context.Context, tx pgx.Tx, client store.ClientID, space store.SpaceID, id string, now time.Time) error {
	const op = "activate invite"
	var expires, used *int64
	err := tx.QueryRow(ctx, `SELECT expires_at, used_at FROM invites WHERE client_id = $1 AND space_id = $2 AND id = $3`,
		client, space, id).Scan(&expires, &used)
	switch {
	case err != nil:
		return translate(op, err)
	case expires != nil && *expires <= ms(now):
		return fmt.Errorf("postgres: %s: %w", op, store.ErrExpired)
	default:
		return fmt.Errorf("postgres: %s: %w", op, store.ErrUsed)
	}
}
