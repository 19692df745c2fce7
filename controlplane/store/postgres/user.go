package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
)

const (
	userCols  = `client_id, id, email, username, phone, password_hash, created_at`
	tokenCols = `client_id, id, user_id, name, token_hash, created_at, expires_at`
)

// emailKey is the case-insensitive uniqueness key of an e-mail; nil (no
// key, so no uniqueness) for an empty one.
func emailKey(email string) *string {
	if email == "" {
		return nil
	}
	k := strings.ToLower(email)
	return &k
}

func scanUser(r pgx.Row) (store.User, error) {
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
	_, err := s.pool.Exec(ctx, `INSERT INTO users (client_id, id, email, email_key, username, phone, password_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ClientID, u.ID, u.Email, emailKey(u.Email), u.Username, u.Phone, u.PasswordHash, ms(u.CreatedAt))
	return translate("create user", err)
}

// GetUser returns one user of the client.
func (s *Store) GetUser(ctx context.Context, client store.ClientID, id store.UserID) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE client_id = $1 AND id = $2`, client, id))
	return u, translate("get user", err)
}

// GetUserByEmail finds a user of the client by e-mail, case-insensitively.
func (s *Store) GetUserByEmail(ctx context.Context, client store.ClientID, email string) (store.User, error) {
	if email == "" {
		return store.User{}, fmt.Errorf("postgres: get user by email: %w", store.ErrNotFound)
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE client_id = $1 AND email_key = $2`,
		client, emailKey(email)))
	return u, translate("get user by email", err)
}

// DeleteUser removes the user with its memberships, room roles and personal
// tokens (foreign-key cascades) and revokes every token of the user, in
// one transaction. Spaces and rooms it owns stay.
func (s *Store) DeleteUser(ctx context.Context, client store.ClientID, id store.UserID) error {
	const op = "delete user"
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE client_id = $1 AND id = $2`, client, id)
		if err := one(op, tag, err); err != nil {
			return err
		}
		_, err = s.revoke(ctx, tx, deletionRevocation(store.RevokeUser, client, string(id)))
		return err
	})
}

func scanToken(r pgx.Row) (store.PersonalToken, error) {
	var t store.PersonalToken
	var created int64
	var expires *int64
	if err := r.Scan(&t.ClientID, &t.ID, &t.UserID, &t.Name, &t.TokenHash, &created, &expires); err != nil {
		return store.PersonalToken{}, err
	}
	t.CreatedAt = fromMS(created)
	t.ExpiresAt = fromPtr(expires)
	return t, nil
}

// CreatePersonalToken stores a token of a user of the client.
func (s *Store) CreatePersonalToken(ctx context.Context, t store.PersonalToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO personal_tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ClientID, t.ID, t.UserID, t.Name, t.TokenHash, ms(t.CreatedAt), msPtr(t.ExpiresAt))
	return translate("create personal token", err)
}

// ListPersonalTokens lists a user's tokens, newest first. An unknown user
// gives store.ErrNotFound.
func (s *Store) ListPersonalTokens(ctx context.Context, client store.ClientID, user store.UserID) ([]store.PersonalToken, error) {
	const op = "list personal tokens"
	var out []store.PersonalToken
	err := s.readTx(ctx, op, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM users WHERE client_id = $1 AND id = $2`, client, user); err != nil {
			return translate(op, err)
		}
		rows, err := tx.Query(ctx, `SELECT `+tokenCols+` FROM personal_tokens WHERE client_id = $1 AND user_id = $2
			ORDER BY created_at DESC, id DESC`, client, user)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanToken)
		return err
	})
	return out, err
}

// GetPersonalTokenByHash finds a token by the hash of its value, whatever
// its client (the token names its client).
func (s *Store) GetPersonalTokenByHash(ctx context.Context, tokenHash string) (store.PersonalToken, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM personal_tokens WHERE token_hash = $1`, tokenHash))
	return t, translate("get personal token", err)
}

// DeletePersonalToken removes one token of a user.
func (s *Store) DeletePersonalToken(ctx context.Context, client store.ClientID, user store.UserID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM personal_tokens WHERE client_id = $1 AND user_id = $2 AND id = $3`, client, user, id)
	return one("delete personal token", tag, err)
}

// exists runs a "SELECT 1 ... WHERE" query; no row is pgx.ErrNoRows.
func exists(ctx context.Context, q querier, sql string, args ...any) error {
	var one int
	return q.QueryRow(ctx, sql, args...).Scan(&one)
}
