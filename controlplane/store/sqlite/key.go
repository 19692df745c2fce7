package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func scanKey(r scanner) (store.SigningKey, error) {
	var k store.SigningKey
	var created int64
	var retired, expires sql.NullInt64
	if err := r.Scan(&k.ID, &k.Secret, &created, &retired, &expires); err != nil {
		return store.SigningKey{}, err
	}
	k.CreatedAt = fromMS(created)
	k.RetiredAt = fromNull(retired)
	k.ExpiresAt = fromNull(expires)
	return k, nil
}

// AddSigningKey stores a new key; a used id gives store.ErrConflict.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := s.st.insertKey.ExecContext(ctx, k.ID, k.Secret, ms(k.CreatedAt), msPtr(k.RetiredAt), msPtr(k.ExpiresAt))
	return s.notified(translate("add signing key", err), store.TopicKeys)
}

// ListSigningKeys returns every key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.st.listKeys.QueryContext(ctx)
	if err != nil {
		return nil, translate("list signing keys", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, translate("list signing keys", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list signing keys: %w", err)
	}
	return out, nil
}

// RetireSigningKey stops a key from signing and schedules its expiry.
func (s *Store) RetireSigningKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error {
	res, err := s.st.retireKey.ExecContext(ctx, ms(retiredAt), ms(expiresAt), id)
	return s.notified(one("retire signing key", res, err), store.TopicKeys)
}

// DeleteExpiredSigningKeys removes the keys whose ExpiresAt is before now.
func (s *Store) DeleteExpiredSigningKeys(ctx context.Context, now time.Time) error {
	res, err := s.st.deleteExpiredKeys.ExecContext(ctx, ms(now))
	if err != nil {
		return translate("delete expired signing keys", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.hub.Notify(store.TopicKeys)
	}
	return nil
}
