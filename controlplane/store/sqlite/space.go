package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func originsJSON(o []string) (string, error) {
	if len(o) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("sqlite: encode allowed origins: %w", err)
	}
	return string(b), nil
}

func scanSpace(r scanner) (store.Space, error) {
	var sp store.Space
	var public int64
	var origins string
	var created, updated int64
	if err := r.Scan(&sp.ClientID, &sp.ID, &sp.OwnerID, &sp.Name, &sp.Description, &sp.Logo,
		&public, &origins, &created, &updated); err != nil {
		return store.Space{}, err
	}
	sp.IsPublic = public != 0
	if origins != "" && origins != "[]" {
		if err := json.Unmarshal([]byte(origins), &sp.AllowedOrigins); err != nil {
			return store.Space{}, fmt.Errorf("decode allowed origins: %w", err)
		}
	}
	sp.CreatedAt = fromMS(created)
	sp.UpdatedAt = fromMS(updated)
	return sp, nil
}

// CreateSpace stores the space and makes its owner a member with
// store.SpaceRoleOwner, in one transaction. An owner who is not a user of
// the client gives store.ErrNotFound.
func (s *Store) CreateSpace(ctx context.Context, sp store.Space) error {
	const op = "create space"
	origins, err := originsJSON(sp.AllowedOrigins)
	if err != nil {
		return err
	}
	return s.inTx(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.st.insertSpace).ExecContext(ctx, sp.ClientID, sp.ID, sp.OwnerID,
			sp.Name, sp.Description, sp.Logo, boolInt(sp.IsPublic), origins, ms(sp.CreatedAt), ms(sp.UpdatedAt)); err != nil {
			return translate(op, err)
		}
		_, err := tx.StmtContext(ctx, s.st.insertMember).ExecContext(ctx, sp.ClientID, sp.ID, sp.OwnerID,
			store.SpaceRoleOwner, ms(sp.CreatedAt))
		return translate(op, err)
	})
}

// GetSpace returns one space of the client.
func (s *Store) GetSpace(ctx context.Context, client store.ClientID, id store.SpaceID) (store.Space, error) {
	sp, err := scanSpace(s.st.getSpace.QueryRowContext(ctx, client, id))
	return sp, translate("get space", err)
}

// ListSpacesForUser lists the spaces the user owns or is a member of, newest
// first, with their total. An unknown user gives store.ErrNotFound.
func (s *Store) ListSpacesForUser(ctx context.Context, client store.ClientID, user store.UserID, p store.Page) ([]store.Space, int, error) {
	const op = "list spaces"
	p = p.Normalize()
	var out []store.Space
	var total int
	err := s.readTx(ctx, op, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, s.st.userExists, client, user); err != nil {
			return translate(op, err)
		}
		if err := tx.StmtContext(ctx, s.st.countSpaces).QueryRowContext(ctx, client, user).Scan(&total); err != nil {
			return translate(op, err)
		}
		rows, err := tx.StmtContext(ctx, s.st.listSpaces).QueryContext(ctx, client, user, p.Limit, p.Offset)
		if err != nil {
			return translate(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			sp, err := scanSpace(rows)
			if err != nil {
				return translate(op, err)
			}
			out = append(out, sp)
		}
		return translate(op, rows.Err())
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateSpace replaces the mutable fields and UpdatedAt.
func (s *Store) UpdateSpace(ctx context.Context, sp store.Space) error {
	origins, err := originsJSON(sp.AllowedOrigins)
	if err != nil {
		return err
	}
	res, err := s.st.updateSpace.ExecContext(ctx, sp.Name, sp.Description, sp.Logo, boolInt(sp.IsPublic),
		origins, ms(sp.UpdatedAt), sp.ClientID, sp.ID)
	return s.notified(one("update space", res, err), store.TopicRooms)
}

// DeleteSpace removes the space with its rooms, members, invites, links and
// webhook (foreign-key cascades).
func (s *Store) DeleteSpace(ctx context.Context, client store.ClientID, id store.SpaceID) error {
	res, err := s.st.deleteSpace.ExecContext(ctx, client, id)
	return s.notified(one("delete space", res, err), store.TopicRooms)
}

func scanSpaceMember(r scanner) (store.SpaceMember, error) {
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
	m, err := scanSpaceMember(s.st.getMember.QueryRowContext(ctx, client, space, user))
	return m, translate("get space member", err)
}

// ListSpaceMembers lists a space's members, oldest first. An unknown space
// gives store.ErrNotFound.
func (s *Store) ListSpaceMembers(ctx context.Context, client store.ClientID, space store.SpaceID) ([]store.SpaceMember, error) {
	const op = "list space members"
	var out []store.SpaceMember
	err := s.readTx(ctx, op, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, s.st.spaceExists, client, space); err != nil {
			return translate(op, err)
		}
		rows, err := tx.StmtContext(ctx, s.st.listMembers).QueryContext(ctx, client, space)
		if err != nil {
			return translate(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanSpaceMember(rows)
			if err != nil {
				return translate(op, err)
			}
			out = append(out, m)
		}
		return translate(op, rows.Err())
	})
	return out, err
}

func scanInvite(r scanner) (store.Invite, error) {
	var inv store.Invite
	var created int64
	var expires, used sql.NullInt64
	if err := r.Scan(&inv.ClientID, &inv.ID, &inv.SpaceID, &inv.Role, &inv.CreatedBy, &created,
		&expires, &inv.UsedBy, &used); err != nil {
		return store.Invite{}, err
	}
	inv.CreatedAt = fromMS(created)
	inv.ExpiresAt = fromNull(expires)
	inv.UsedAt = fromNull(used)
	return inv, nil
}

// CreateInvite stores an invite into a space of the client.
func (s *Store) CreateInvite(ctx context.Context, inv store.Invite) error {
	_, err := s.st.insertInvite.ExecContext(ctx, inv.ClientID, inv.ID, inv.SpaceID, inv.Role, inv.CreatedBy,
		ms(inv.CreatedAt), msPtr(inv.ExpiresAt), inv.UsedBy, msPtr(inv.UsedAt))
	return translate("create invite", err)
}

// GetInvite returns one invite of a space.
func (s *Store) GetInvite(ctx context.Context, client store.ClientID, space store.SpaceID, id string) (store.Invite, error) {
	inv, err := scanInvite(s.st.getInvite.QueryRowContext(ctx, client, space, id))
	return inv, translate("get invite", err)
}

// ActivateInvite spends the invite for user and makes the user a member with
// the invite's role unless it already has a higher one, in one IMMEDIATE
// transaction: the conditional UPDATE lets exactly one caller through. An
// expired invite gives store.ErrExpired (whether or not it was used), a
// spent one store.ErrUsed; a user who is not of the client
// store.ErrNotFound, and the invite stays unspent.
func (s *Store) ActivateInvite(ctx context.Context, client store.ClientID, space store.SpaceID, id string, user store.UserID, now time.Time) (store.Invite, error) {
	const op = "activate invite"
	var inv store.Invite
	err := s.inTx(ctx, op, func(tx *sql.Tx) error {
		var err error
		inv, err = scanInvite(tx.StmtContext(ctx, s.st.activateInvite).QueryRowContext(ctx, client, space, id, user, ms(now)))
		if errors.Is(err, sql.ErrNoRows) {
			return s.inviteRefusal(ctx, tx, client, space, id, now)
		}
		if err != nil {
			return translate(op, err)
		}
		_, err = tx.StmtContext(ctx, s.st.upsertMemberNoLower).ExecContext(ctx, client, space, user, inv.Role, ms(now))
		return translate(op, err)
	})
	if err != nil {
		return store.Invite{}, err
	}
	return inv, nil
}

// inviteRefusal says why the activation UPDATE matched no row.
func (s *Store) inviteRefusal(ctx context.Context, tx *sql.Tx, client store.ClientID, space store.SpaceID, id string, now time.Time) error {
	const op = "activate invite"
	var expires, used sql.NullInt64
	err := tx.StmtContext(ctx, s.st.inviteState).QueryRowContext(ctx, client, space, id).Scan(&expires, &used)
	switch {
	case err != nil:
		return translate(op, err)
	case expires.Valid && expires.Int64 <= ms(now):
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrExpired)
	default:
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrUsed)
	}
}
