package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
)

const keyCols = `id, secret, created_at, retired_at, expires_at`

func scanKey(r pgx.Row) (store.SigningKey, error) {
	var k store.SigningKey
	var created int64
	var retired, expires *int64
	if err := r.Scan(&k.ID, &k.Secret, &created, &retired, &expires); err != nil {
		return store.SigningKey{}, err
	}
	k.CreatedAt = fromMS(created)
	k.RetiredAt = fromPtr(retired)
	k.ExpiresAt = fromPtr(expires)
	return k, nil
}

// AddSigningKey stores a new key; a used id gives store.ErrConflict.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (`+keyCols+`) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.Secret, ms(k.CreatedAt), msPtr(k.RetiredAt), msPtr(k.ExpiresAt))
	return translate("add signing key", err)
}

// ListSigningKeys returns every key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyCols+` FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, translate("list signing keys", err)
	}
	out, err := collect(rows, scanKey)
	return out, translate("list signing keys", err)
}

// RetireSigningKey stops a key from signing and schedules its expiry.
func (s *Store) RetireSigningKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE signing_keys SET retired_at = $1, expires_at = $2 WHERE id = $3`, ms(retiredAt), ms(expiresAt), id)
	return one("retire signing key", tag, err)
}

// DeleteExpiredSigningKeys removes the keys whose ExpiresAt is before now.
func (s *Store) DeleteExpiredSigningKeys(ctx context.Context, now time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM signing_keys WHERE expires_at IS NOT NULL AND expires_at < $1`, ms(now))
	return translate("delete expired signing keys", err)
}
