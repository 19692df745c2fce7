package space

import (
	"context"
	"errors"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// PutWebhook creates o's webhook with url and a new secret (created
// true), active unless isActive says otherwise; on a space that has one it
// replaces the url (and isActive) and keeps the secret.
func (s *Service) PutWebhook(ctx context.Context, o access.OwnedSpace, url string, isActive *bool) (w store.Webhook, created bool, err error) {
	c, sp := o.Caller(), o.Space()
	w, err = s.o.Store.GetWebhook(ctx, c.Client, sp.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		secret, err := newWebhookSecret()
		if err != nil {
			return store.Webhook{}, false, err
		}
		w, created = store.Webhook{SpaceID: sp.ID, ClientID: c.Client, Secret: secret, IsActive: true, CreatedAt: s.o.Now()}, true
	case err != nil:
		return store.Webhook{}, false, err
	}
	w.URL = url
	if isActive != nil {
		w.IsActive = *isActive
	}
	w, err = s.saveWebhook(ctx, w)
	return w, created, err
}

// UpdateWebhook changes o's webhook: once it is loaded (store.ErrNotFound
// when the space has none), edit may change its URL and whether it is
// active; an error of edit is returned as is and nothing is written.
func (s *Service) UpdateWebhook(ctx context.Context, o access.OwnedSpace, edit func(url *string, isActive *bool) error) (store.Webhook, error) {
	w, err := s.Webhook(ctx, o)
	if err != nil {
		return store.Webhook{}, err
	}
	if err := edit(&w.URL, &w.IsActive); err != nil {
		return store.Webhook{}, err
	}
	return s.saveWebhook(ctx, w)
}

func (s *Service) saveWebhook(ctx context.Context, w store.Webhook) (store.Webhook, error) {
	w.UpdatedAt = s.o.Now()
	if err := s.o.Store.PutWebhook(ctx, w); err != nil {
		return store.Webhook{}, access.About("webhook", "webhook", err)
	}
	return w, nil
}

// Webhook is o's webhook.
func (s *Service) Webhook(ctx context.Context, o access.OwnedSpace) (store.Webhook, error) {
	w, err := s.o.Store.GetWebhook(ctx, o.Caller().Client, o.Space().ID)
	if err != nil {
		return store.Webhook{}, access.About("webhook", "webhook", err)
	}
	return w, nil
}

// DeleteWebhook deletes o's webhook.
func (s *Service) DeleteWebhook(ctx context.Context, o access.OwnedSpace) error {
	if err := s.o.Store.DeleteWebhook(ctx, o.Caller().Client, o.Space().ID); err != nil {
		return access.About("webhook", "webhook", err)
	}
	return nil
}

// RefreshWebhookSecret draws a new secret for o's webhook.
func (s *Service) RefreshWebhookSecret(ctx context.Context, o access.OwnedSpace) (store.Webhook, error) {
	w, err := s.Webhook(ctx, o)
	if err != nil {
		return store.Webhook{}, err
	}
	if w.Secret, err = newWebhookSecret(); err != nil {
		return store.Webhook{}, err
	}
	return s.saveWebhook(ctx, w)
}

func newWebhookSecret() (string, error) { return auth.RandomString("whsec_", 32) }

// WebhookDeliveries is a page of o's webhook delivery log, newest first,
// with its total.
func (s *Service) WebhookDeliveries(ctx context.Context, o access.OwnedSpace, p store.Page) ([]store.WebhookDelivery, int, error) {
	l, total, err := s.o.Store.ListWebhookDeliveries(ctx, o.Caller().Client, o.Space().ID, p)
	if err != nil {
		return nil, 0, access.About("space", "space", err)
	}
	return l, total, nil
}

// Redeliver queues the event of o's delivery id again, as a new delivery
// that keeps the event's id (a receiver that has the event drops it).
// Without an active webhook to deliver to it is ErrWebhookInactive.
func (s *Service) Redeliver(ctx context.Context, o access.OwnedSpace, id string) (store.WebhookDelivery, error) {
	d, err := s.o.Store.RedeliverWebhook(ctx, o.Caller().Client, o.Space().ID, id, store.NewID(), s.o.Now())
	if errors.Is(err, store.ErrConflict) {
		return store.WebhookDelivery{}, ErrWebhookInactive
	}
	if err != nil {
		return store.WebhookDelivery{}, access.About("webhook delivery", "webhook_delivery", err)
	}
	return d, nil
}
