package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
)

const webhookCols = `client_id, space_id, url, secret, is_active, created_at, updated_at`

func scanWebhook(r pgx.Row) (store.Webhook, error) {
	var w store.Webhook
	var created, updated int64
	if err := r.Scan(&w.ClientID, &w.SpaceID, &w.URL, &w.Secret, &w.IsActive, &created, &updated); err != nil {
		return store.Webhook{}, err
	}
	w.CreatedAt = fromMS(created)
	w.UpdatedAt = fromMS(updated)
	return w, nil
}

// PutWebhook inserts or replaces the space's webhook; replacing keeps the
// original CreatedAt. A space that is not of the client gives
// store.ErrNotFound.
func (s *Store) PutWebhook(ctx context.Context, w store.Webhook) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO webhooks (`+webhookCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (client_id, space_id) DO UPDATE SET url = excluded.url, secret = excluded.secret,
		is_active = excluded.is_active, updated_at = excluded.updated_at`,
		w.ClientID, w.SpaceID, w.URL, w.Secret, w.IsActive, ms(w.CreatedAt), ms(w.UpdatedAt))
	return translate("put webhook", err)
}

// GetWebhook returns the space's webhook.
func (s *Store) GetWebhook(ctx context.Context, client store.ClientID, space store.SpaceID) (store.Webhook, error) {
	w, err := scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE client_id = $1 AND space_id = $2`, client, space))
	return w, translate("get webhook", err)
}

// DeleteWebhook removes the space's webhook.
func (s *Store) DeleteWebhook(ctx context.Context, client store.ClientID, space store.SpaceID) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE client_id = $1 AND space_id = $2`, client, space)
	return one("delete webhook", tag, err)
}
