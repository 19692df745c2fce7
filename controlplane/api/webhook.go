package api

import (
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
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

// ownedSpace is the space of the path for its owner (webhooks carry a
// secret: owners only).
func (r *request) ownedSpace() (access.OwnedSpace, error) {
	id, err := r.spaceID()
	if err != nil {
		return access.OwnedSpace{}, err
	}
	return r.a.o.Access.OwnSpace(r.context(), r.caller, id, "manage its webhook")
}

// createWebhook: POST /v1/spaces/{spaceId}/webhook {url, isActive?} →
// 201 {url, secret, isActive} with a new secret. On a space that has a
// webhook it replaces url (and isActive) and keeps the secret: 200.
func (a *API) createWebhook(r *request) error {
	o, err := r.ownedSpace()
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
	w, created, err := a.o.Spaces.PutWebhook(r.context(), o, u, q.IsActive)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return r.json(status, viewWebhook(w))
}

// updateWebhook: PUT /v1/spaces/{spaceId}/webhook {url?, isActive?}.
func (a *API) updateWebhook(r *request) error {
	o, err := r.ownedSpace()
	if err != nil {
		return err
	}
	var q webhookRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	w, err := a.o.Spaces.UpdateWebhook(r.context(), o, func(url *string, isActive *bool) error {
		if q.URL != nil {
			var c check
			if c.httpURL("url", *q.URL); c.err != nil {
				return c.err
			}
			*url = *q.URL
		}
		if q.IsActive != nil {
			*isActive = *q.IsActive
		}
		return nil
	})
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewWebhook(w))
}

// getWebhook: GET /v1/spaces/{spaceId}/webhook.
func (a *API) getWebhook(r *request) error {
	o, err := r.ownedSpace()
	if err != nil {
		return err
	}
	w, err := a.o.Spaces.Webhook(r.context(), o)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewWebhook(w))
}

// deleteWebhook: DELETE /v1/spaces/{spaceId}/webhook.
func (a *API) deleteWebhook(r *request) error {
	o, err := r.ownedSpace()
	if err != nil {
		return err
	}
	if err := a.o.Spaces.DeleteWebhook(r.context(), o); err != nil {
		return err
	}
	return r.json(http.StatusOK, idOnly{ID: string(o.Space().ID)})
}

// refreshWebhookSecret: PUT /v1/spaces/{spaceId}/webhook/refresh-secret.
func (a *API) refreshWebhookSecret(r *request) error {
	o, err := r.ownedSpace()
	if err != nil {
		return err
	}
	w, err := a.o.Spaces.RefreshWebhookSecret(r.context(), o)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewWebhook(w))
}
