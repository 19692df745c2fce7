package sqlite

import (
	"context"

	"github.com/spacecast/spacecast/controlplane/store"
)

func scanWebhook(r scanner) (store.Webhook, error) {
	var w store.Webhook
	var active, created, updated int64
	if err := r.Scan(&w.ClientID, &w.SpaceID, &w.URL, &w.Secret, &active, &created, &updated); err != nil {
		return store.Webhook{}, err
	}
	w.IsActive = active != 0
	w.CreatedAt = fromMS(created)
	w.UpdatedAt = fromMS(updated)
	return w, nil
}

// PutWebhook inserts or replaces the space's webhook; replacing keeps the
// original CreatedAt. A space that is not of the client gives
// store.ErrNotFound.
func (s *Store) PutWebhook(ctx context.Context, w store.Webhook) error {
	_, err := s.st.putWebhook.ExecContext(ctx, w.ClientID, w.SpaceID, w.URL, w.Secret, boolInt(w.IsActive),
		ms(w.CreatedAt), ms(w.UpdatedAt))
	return translate("put webhook", err)
}

// GetWebhook returns the space's webhook.
func (s *Store) GetWebhook(ctx context.Context, client store.ClientID, space store.SpaceID) (store.Webhook, error) {
	w, err := scanWebhook(s.st.getWebhook.QueryRowContext(ctx, client, space))
	return w, translate("get webhook", err)
}

// DeleteWebhook removes the space's webhook.
func (s *Store) DeleteWebhook(ctx context.Context, client store.ClientID, space store.SpaceID) error {
	res, err := s.st.deleteWebhook.ExecContext(ctx, client, space)
	return one("delete webhook", res, err)
}
