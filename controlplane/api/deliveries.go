package api

import (
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// deliveryView is one entry of a space's webhook delivery log.
type deliveryView struct {
	ID             string     `json:"id"`
	EventID        string     `json:"eventId"`
	EventName      string     `json:"eventName"`
	RoomID         string     `json:"roomId"`
	CallID         string     `json:"callId,omitempty"`
	RecordID       string     `json:"recordId,omitempty"`
	OccurredAt     time.Time  `json:"occurredAt"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode int        `json:"lastStatusCode,omitempty"`
	LastError      string     `json:"lastError,omitempty"`
	LastAttemptAt  *time.Time `json:"lastAttemptAt"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt"`
	DeliveredAt    *time.Time `json:"deliveredAt"`
	CreatedAt      time.Time  `json:"createdAt"`
	RedeliveryOf   string     `json:"redeliveryOf,omitempty"`
}

func viewDelivery(d store.WebhookDelivery) deliveryView {
	v := deliveryView{ID: d.ID, EventID: d.Event.ID, EventName: d.Event.Name, RoomID: string(d.Event.RoomID), CallID: string(d.Event.CallID),
		RecordID: d.Event.RecordID, OccurredAt: d.Event.At, Status: string(d.Status), Attempts: d.Attempts, LastStatusCode: d.LastStatusCode,
		LastError: d.LastError, LastAttemptAt: d.LastAttemptAt, DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt, RedeliveryOf: d.RedeliveryOf}
	if d.Status == store.DeliveryPending {
		next := d.NextAttemptAt
		v.NextAttemptAt = &next
	}
	return v
}

// listWebhookDeliveries: GET /v1/spaces/{spaceId}/webhook/deliveries,
// the space's owner: the delivery log, newest first (offset, limit).
func (a *API) listWebhookDeliveries(r *request) error {
	o, err := r.ownedSpace()
	if err != nil {
		return err
	}
	pg, err := r.page()
	if err != nil {
		return err
	}
	l, total, err := a.o.Spaces.WebhookDeliveries(r.context(), o, pg)
	if err != nil {
		return err
	}
	out := list[deliveryView]{Items: make([]deliveryView, 0, len(l)), Total: total}
	for _, d := range l {
		out.Items = append(out.Items, viewDelivery(d))
	}
	return r.json(http.StatusOK, out)
}

// redeliverWebhook: POST
// /v1/spaces/{spaceId}/webhook/deliveries/{deliveryId}/redeliver, the
// space's owner: the delivery's event goes out again as a new delivery
// (the event keeps its id: a receiver that has it drops it). 409 without
// an active webhook.
func (a *API) redeliverWebhook(r *request) error {
	o, err := r.ownedSpace()
	if err != nil {
		return err
	}
	id, err := r.id(1, "deliveryId")
	if err != nil {
		return err
	}
	d, err := a.o.Spaces.Redeliver(r.context(), o, id)
	if err != nil {
		return err
	}
	return r.json(http.StatusCreated, viewDelivery(d))
}
