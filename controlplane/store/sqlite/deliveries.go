package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

const deliveryCols = `seq, client_id, id, space_id, room_id, event_id, event, call_id, record_id, occurred_at, status, attempts,
	next_attempt_at, last_attempt_at, last_status, last_error, delivered_at, created_at, redelivery_of, lease_owner, lease_until`

func scanDelivery(r scanner, extra ...any) (store.WebhookDelivery, error) {
	var d store.WebhookDelivery
	var occurred, next, created int64
	var last, delivered, lease sql.NullInt64
	ev := &d.Event
	dest := append([]any{&d.Seq, &ev.ClientID, &d.ID, &ev.SpaceID, &ev.RoomID, &ev.ID, &ev.Name, &ev.CallID, &ev.RecordID, &occurred,
		&d.Status, &d.Attempts, &next, &last, &d.LastStatusCode, &d.LastError, &delivered, &created, &d.RedeliveryOf,
		&d.LeaseOwner, &lease}, extra...)
	if err := r.Scan(dest...); err != nil {
		return store.WebhookDelivery{}, err
	}
	ev.At, d.NextAttemptAt, d.CreatedAt = fromMS(occurred), fromMS(next), fromMS(created)
	d.LastAttemptAt, d.DeliveredAt, d.LeaseUntil = fromNull(last), fromNull(delivered), fromNull(lease)
	return d, nil
}

// execer is a transaction or a pool.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// enqueue inserts a pending delivery of ev when its space has an active
// webhook; false when it has none.
func enqueue(ctx context.Context, ex execer, id string, ev store.WebhookEvent, redeliveryOf string, now time.Time) (bool, error) {
	res, err := ex.ExecContext(ctx, `INSERT INTO webhook_deliveries (client_id, id, space_id, room_id, event_id, event, call_id, record_id,
			occurred_at, status, attempts, next_attempt_at, last_attempt_at, last_status, last_error, delivered_at, created_at,
			redelivery_of, lease_owner, lease_until)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', 0, ?10, NULL, 0, '', NULL, ?10, ?11, '', NULL
		FROM webhooks WHERE client_id = ?1 AND space_id = ?3 AND is_active = 1`,
		ev.ClientID, id, ev.SpaceID, ev.RoomID, ev.ID, ev.Name, ev.CallID, ev.RecordID, ms(ev.At), ms(now), redeliveryOf)
	if err != nil {
		return false, translate("enqueue webhook event", err)
	}
	n, err := res.RowsAffected()
	return n > 0, translate("enqueue webhook event", err)
}

// EnqueueWebhookEvent queues ev when its space has an active webhook.
func (s *Store) EnqueueWebhookEvent(ctx context.Context, id string, ev store.WebhookEvent, now time.Time) (bool, error) {
	var ok bool
	err := s.inTx(ctx, "enqueue webhook event", func(tx *sql.Tx) error {
		var err error
		ok, err = enqueue(ctx, tx, id, ev, "", now)
		return err
	})
	if ok {
		s.hub.Notify(store.TopicDeliveries)
	}
	return ok, err
}

// claimScan bounds the candidates a claim looks at.
const claimScan = 1000

// ClaimWebhookDeliveries leases due deliveries, in one IMMEDIATE
// transaction (the single writer serialises claims).
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, c store.WebhookClaim) ([]store.WebhookDelivery, error) {
	const op = "claim webhook deliveries"
	if c.Max <= 0 || c.PerTenant <= 0 {
		return nil, nil
	}
	var out []store.WebhookDelivery
	err := s.inTx(ctx, op, func(tx *sql.Tx) error {
		inflight := map[store.ClientID]int{}
		rows, err := tx.QueryContext(ctx, `SELECT client_id, COUNT(*) FROM webhook_deliveries
			WHERE status = 'pending' AND lease_until > ? GROUP BY client_id`, ms(c.Now))
		if err != nil {
			return translate(op, err)
		}
		for rows.Next() {
			var cl store.ClientID
			var n int
			if err := rows.Scan(&cl, &n); err != nil {
				rows.Close()
				return translate(op, err)
			}
			inflight[cl] = n
		}
		rows.Close()
		rows, err = tx.QueryContext(ctx, `SELECT `+deliveryCols+` FROM (
				SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.client_id ORDER BY d.seq) AS rk FROM webhook_deliveries d
				WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND (d.lease_until IS NULL OR d.lease_until <= ?1)
				AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.room_id = d.room_id AND p.status = 'pending' AND p.seq < d.seq))
			WHERE rk <= ?2 ORDER BY rk, seq LIMIT ?3`, ms(c.Now), c.PerTenant, claimScan)
		if err != nil {
			return translate(op, err)
		}
		var picked []store.WebhookDelivery
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return translate(op, err)
			}
			if len(picked) < c.Max && inflight[d.Event.ClientID] < c.PerTenant {
				inflight[d.Event.ClientID]++
				picked = append(picked, d)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return translate(op, err)
		}
		for i := range picked {
			d := &picked[i]
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?, attempts = attempts + 1,
				last_attempt_at = ? WHERE seq = ?`, c.Owner, ms(c.LeaseUntil), ms(c.Now), d.Seq); err != nil {
				return translate(op, err)
			}
			d.LeaseOwner, d.LeaseUntil, d.Attempts, d.LastAttemptAt = c.Owner, &c.LeaseUntil, d.Attempts+1, &c.Now
		}
		out = picked
		return nil
	})
	return out, err
}

// RecordWebhookAttempt records how a claimed attempt ended, if the
// attempt still holds the delivery's lease.
func (s *Store) RecordWebhookAttempt(ctx context.Context, a store.WebhookAttempt) error {
	const op = "record webhook attempt"
	status, next := store.DeliveryPending, a.NextAttemptAt
	var delivered any
	switch a.Outcome {
	case store.AttemptDelivered:
		status, next, delivered = store.DeliveryDelivered, a.At, ms(a.At)
	case store.AttemptFailed:
		status, next = store.DeliveryFailed, a.At
	case store.AttemptRetry:
	default:
		return fmt.Errorf("sqlite: %s: outcome %d", op, a.Outcome)
	}
	res, err := s.writer.ExecContext(ctx, `UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, last_status = ?, last_error = ?,
		delivered_at = ?, lease_owner = '', lease_until = NULL
		WHERE client_id = ? AND id = ? AND lease_owner = ? AND attempts = ? AND status = 'pending'`,
		status, ms(next), a.StatusCode, a.Error, delivered, a.ClientID, a.DeliveryID, a.Owner, a.Attempt)
	if err := one(op, res, err); err != nil {
		return err
	}
	if a.Outcome == store.AttemptRetry {
		s.hub.Notify(store.TopicDeliveries)
	}
	return nil
}

// ListWebhookDeliveries lists a space's deliveries, newest first.
func (s *Store) ListWebhookDeliveries(ctx context.Context, client store.ClientID, space store.SpaceID, p store.Page) ([]store.WebhookDelivery, int, error) {
	const op = "list webhook deliveries"
	p = p.Normalize()
	var out []store.WebhookDelivery
	var total int
	err := s.readTx(ctx, op, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, s.st.spaceExists, client, space); err != nil {
			return translate(op, err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE client_id = ? AND space_id = ?`, client, space).Scan(&total); err != nil {
			return translate(op, err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE client_id = ? AND space_id = ?
			ORDER BY seq DESC LIMIT ? OFFSET ?`, client, space, p.Limit, p.Offset)
		if err != nil {
			return translate(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return translate(op, err)
			}
			out = append(out, d)
		}
		return translate(op, rows.Err())
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// GetWebhookDelivery returns one delivery of a space.
func (s *Store) GetWebhookDelivery(ctx context.Context, client store.ClientID, space store.SpaceID, id string) (store.WebhookDelivery, error) {
	d, err := scanDelivery(s.reader.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries
		WHERE client_id = ? AND space_id = ? AND id = ?`, client, space, id))
	return d, translate("get webhook delivery", err)
}

// RedeliverWebhook queues delivery id's event again as delivery newID.
func (s *Store) RedeliverWebhook(ctx context.Context, client store.ClientID, space store.SpaceID, id, newID string, now time.Time) (store.WebhookDelivery, error) {
	const op = "redeliver webhook"
	var out store.WebhookDelivery
	err := s.inTx(ctx, op, func(tx *sql.Tx) error {
		d, err := scanDelivery(tx.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries
			WHERE client_id = ? AND space_id = ? AND id = ?`, client, space, id))
		if err != nil {
			return translate(op, err)
		}
		ok, err := enqueue(ctx, tx, newID, d.Event, id, now)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("sqlite: %s: no active webhook: %w", op, store.ErrConflict)
		}
		out, err = scanDelivery(tx.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE client_id = ? AND id = ?`, client, newID))
		return translate(op, err)
	})
	if err == nil {
		s.hub.Notify(store.TopicDeliveries)
	}
	return out, err
}

// PruneWebhookDeliveries forgets finished deliveries created before before.
func (s *Store) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error) {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ?`, ms(before))
	if err != nil {
		return 0, translate("prune webhook deliveries", err)
	}
	n, err := res.RowsAffected()
	return int(n), translate("prune webhook deliveries", err)
}

// PendingWebhookDeliveries counts the unfinished deliveries.
func (s *Store) PendingWebhookDeliveries(ctx context.Context) (int, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&n)
	return n, translate("count pending webhook deliveries", err)
}
