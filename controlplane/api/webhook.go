package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

type webhookRequest struct {
	URL      *string `json:"url"`
	IsActive *bool   `json:"isActive"`
}

type webhookView struct {
	URL       string    `json:"url"`
	Secret    string    `json:"secret"`
	IsActive  bool      `json:"isActive"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func viewWebhook(w store.Webhook) webhookView {
	return webhookView{URL: w.URL, Secret: w.Secret, IsActive: w.IsActive, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

func newWebhookSecret() (string, error) { return auth.RandomString("whsec_", 32) }

// ownedSpace loads the space of path parameter 0 and requires the caller
// to own it (webhooks carry a secret: owners only).
func (r *request) ownedSpace() (principal, store.Space, error) {
	p, err := r.user()
	if err != nil {
		return p, store.Space{}, err
	}
	s, role, err := r.space(p, 0)
	if err != nil {
		return p, s, err
	}
	if role != store.SpaceRoleOwner {
		return p, s, forbidden("only the space's owner may manage its webhook")
	}
	return p, s, nil
}

// createWebhook: POST /v1/spaces/{spaceId}/webhook {url, isActive?} →
// 201 {url, secret, isActive} with a new secret. On a space that has a
// webhook it replaces url (and isActive) and keeps the secret: 200.
func (a *API) createWebhook(r *request) error {
	p, s, err := r.ownedSpace()
	if err != nil {
		return err
	}
	var q webhookRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	var c check
	u := c.required("url", q.URL)
	if c.err == nil {
		c.httpURL("url", u)
	}
	if c.err != nil {
		return c.err
	}
	status := http.StatusOK
	w, err := a.o.Store.GetWebhook(r.context(), p.client, s.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		status = http.StatusCreated
		if w.Secret, err = newWebhookSecret(); err != nil {
			return err
		}
		w = store.Webhook{SpaceID: s.ID, ClientID: p.client, Secret: w.Secret, IsActive: true, CreatedAt: r.now}
	case err != nil:
		return err
	}
	w.URL, w.UpdatedAt = u, r.now
	if q.IsActive != nil {
		w.IsActive = *q.IsActive
	}
	if err := a.o.Store.PutWebhook(r.context(), w); err != nil {
		return about("webhook", "webhook", err)
	}
	return r.json(status, viewWebhook(w))
}

// updateWebhook: PUT /v1/spaces/{spaceId}/webhook {url?, isActive?}.
func (a *API) updateWebhook(r *request) error {
	p, s, err := r.ownedSpace()
	if err != nil {
		return err
	}
	var q webhookRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	w, err := a.o.Store.GetWebhook(r.context(), p.client, s.ID)
	if err != nil {
		return about("webhook", "webhook", err)
	}
	var c check
	if q.URL != nil {
		c.httpURL("url", *q.URL)
		w.URL = *q.URL
	}
	if c.err != nil {
		return c.err
	}
	if q.IsActive != nil {
		w.IsActive = *q.IsActive
	}
	w.UpdatedAt = r.now
	if err := a.o.Store.PutWebhook(r.context(), w); err != nil {
		return about("webhook", "webhook", err)
	}
	return r.json(http.StatusOK, viewWebhook(w))
}

// getWebhook: GET /v1/spaces/{spaceId}/webhook.
func (a *API) getWebhook(r *request) error {
	p, s, err := r.ownedSpace()
	if err != nil {
		return err
	}
	w, err := a.o.Store.GetWebhook(r.context(), p.client, s.ID)
	if err != nil {
		return about("webhook", "webhook", err)
	}
	return r.json(http.StatusOK, viewWebhook(w))
}

// deleteWebhook: DELETE /v1/spaces/{spaceId}/webhook.
func (a *API) deleteWebhook(r *request) error {
	p, s, err := r.ownedSpace()
	if err != nil {
		return err
	}
	if err := a.o.Store.DeleteWebhook(r.context(), p.client, s.ID); err != nil {
		return about("webhook", "webhook", err)
	}
	return r.json(http.StatusOK, idOnly{ID: string(s.ID)})
}

// refreshWebhookSecret: PUT /v1/spaces/{spaceId}/webhook/refresh-secret.
func (a *API) refreshWebhookSecret(r *request) error {
	p, s, err := r.ownedSpace()
	if err != nil {
		return err
	}
	w, err := a.o.Store.GetWebhook(r.context(), p.client, s.ID)
	if err != nil {
		return about("webhook", "webhook", err)
	}
	if w.Secret, err = newWebhookSecret(); err != nil {
		return err
	}
	w.UpdatedAt = r.now
	if err := a.o.Store.PutWebhook(r.context(), w); err != nil {
		return about("webhook", "webhook", err)
	}
	return r.json(http.StatusOK, viewWebhook(w))
}
