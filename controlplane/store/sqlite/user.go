package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/spacecast/spacecast/controlplane/store"
)

// emailKey is the case-insensitive uniqueness key of an e-mail; nil (no
// key, so no uniqueness) for an empty one.
func emailKey(email string) any {
	if email == "" {
		return nil
	}
	return strings.ToLower(email)
}

func scanUser(r scanner) (store.User, error) {
	var u store.User
	var created int64
	if err := r.Scan(&u.ClientID, &u.ID, &u.Email, &u.Username, &u.Phone, &u.PasswordHash, &created); err != nil {
		return store.User{}, err
	}
	u.CreatedAt = fromMS(created)
	return u, nil
}

// CreateUser stores a user. A taken e-mail in the client (compared
// case-insensitively) or a used id gives store.ErrConflict; an unknown
// client store.ErrNotFound.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.st.insertUser.ExecContext(ctx, u.ClientID, u.ID, u.Email, emailKey(u.Email),
		u.Username, u.Phone, u.PasswordHash, ms(u.CreatedAt))
	return translate("create user", err)
}

// GetUser returns one user of the client.
func (s *Store) GetUser(ctx context.Context, client store.ClientID, id store.UserID) (store.User, error) {
	u, err := scanUser(s.st.getUser.QueryRowContext(ctx, client, id))
	return u, translate("get user", err)
}

// GetUserByEmail finds a user of the client by e-mail, case-insensitively.
func (s *Store) GetUserByEmail(ctx context.Context, client store.ClientID, email string) (store.User, error) {
	if email == "" {
		return store.User{}, fmt.Errorf("sqlite: get user by email: %w", store.ErrNotFound)
	}
	u, err := scanUser(s.st.getUserByEmail.QueryRowContext(ctx, client, emailKey(email)))
	return u, translate("get user by email", err)
}

// DeleteUser removes the user with its memberships, room roles and personal
// tokens (foreign-key cascades) and revokes every token of the user, in
// one transaction. Spaces and rooms it owns stay.
func (s *Store) DeleteUser(ctx context.Context, client store.ClientID, id store.UserID) error {
	const op = "delete user"
	return s.notified(s.inTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.st.deleteUser).ExecContext(ctx, client, id)
		if err := one(op, res, err); err != nil {
			return err
		}
		_, err = s.revoke(ctx, tx, op, deletionRevocation(store.RevokeUser, client, string(id)))
		return err
	}), store.TopicRooms, store.TopicRevocations)
}

func scanToken(r scanner) (store.PersonalToken, error) {
	var t store.PersonalToken
	var created int64
	var expires sql.NullInt64
	if err := r.Scan(&t.ClientID, &t.ID, &t.UserID, &t.Name, &t.TokenHash, &created, &expires); err != nil {
		return store.PersonalToken{}, err
	}
	t.CreatedAt = fromMS(created)
	t.ExpiresAt = fromNull(expires)
	return t, nil
}

// CreatePersonalToken stores a token of a user of the client; an unknown
// (or foreign) user gives store.ErrNotFound, a used id or hash
// store.ErrConflict.
func (s *Store) CreatePersonalToken(ctx context.Context, t store.PersonalToken) error {
	_, err := s.st.insertToken.ExecContext(ctx, t.ClientID, t.ID, t.UserID, t.Name, t.TokenHash,
		ms(t.CreatedAt), msPtr(t.ExpiresAt))
	return translate("create personal token", err)
}

// ListPersonalTokens lists a user's tokens, newest first. An unknown user
// gives store.ErrNotFound.
func (s *Store) ListPersonalTokens(ctx context.Context, client store.ClientID, user store.UserID) ([]store.PersonalToken, error) {
	const op = "list personal tokens"
	var out []store.PersonalToken
	err := s.readTx(ctx, op, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, s.st.userExists, client, user); err != nil {
			return translate(op, err)
		}
		rows, err := tx.StmtContext(ctx, s.st.listTokens).QueryContext(ctx, client, user)
		if err != nil {
			return translate(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanToken(rows)
			if err != nil {
				return translate(op, err)
			}
			out = append(out, t)
		}
		return translate(op, rows.Err())
	})
	return out, err
}

// GetPersonalTokenByHash finds a token by the hash of its value, whatever
// its client (the token names its client).
func (s *Store) GetPersonalTokenByHash(ctx context.Context, tokenHash string) (store.PersonalToken, error) {
	t, err := scanToken(s.st.getTokenByHash.QueryRowContext(ctx, tokenHash))
	return t, translate("get personal token", err)
}

// DeletePersonalToken removes one token of a user.
func (s *Store) DeletePersonalToken(ctx context.Context, client store.ClientID, user store.UserID, id string) error {
	res, err := s.st.deleteToken.ExecContext(ctx, client, user, id)
	return one("delete personal token", res, err)
}

// exists runs a "SELECT 1 ... WHERE" statement in tx; no row is
// sql.ErrNoRows.
func exists(ctx context.Context, tx *sql.Tx, st *sql.Stmt, args ...any) error {
	var one int
	return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...).Scan(&one)
}
