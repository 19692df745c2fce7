package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/spacecast/spacecast/controlplane/store"
)

const deliveryCols = `seq, client_id, id, space_id, room_id, event_id, event, call_id, record_id, occurred_at, status, attempts,
	next_attempt_at, last_attempt_at, last_status, last_error, delivered_at, created_at, redelivery_of, lease_owner, lease_until`

// claimLock is the transaction-level advisory lock that serialises
// claims across replicas ("claim").
const claimLock int64 = 0x63_6c_61_69_6d

func scanDelivery(r pgx.Row) (store.WebhookDelivery, error) {
	var d store.WebhookDelivery
	var occurred, next, created int64
	var last, delivered, lease *int64
	ev := &d.Event
	if err := r.Scan(&d.Seq, &ev.ClientID, &d.ID, &ev.SpaceID, &ev.RoomID, &ev.ID, &ev.Name, &ev.CallID, &ev.RecordID, &occurred,
		&d.Status, &d.Attempts, &next, &last, &d.LastStatusCode, &d.LastError, &delivered, &created, &d.RedeliveryOf,
		&d.LeaseOwner, &lease); err != nil {
		return store.WebhookDelivery{}, err
	}
	ev.At, d.NextAttemptAt, d.CreatedAt = fromMS(occurred), fromMS(next), fromMS(created)
	d.LastAttemptAt, d.DeliveredAt, d.LeaseUntil = fromPtr(last), fromPtr(delivered), fromPtr(lease)
	return d, nil
}

// execer is a transaction or the pool.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// enqueue inserts a pending delivery of ev when its space has an active
// webhook; false when it has none. The insert fires the trigger that
// wakes every replica's deliverer at commit.
func enqueue(ctx context.Context, ex execer, id string, ev store.WebhookEvent, redeliveryOf string, now time.Time) (bool, error) {
	tag, err := ex.Exec(ctx, `INSERT INTO webhook_deliveries (client_id, id, space_id, room_id, event_id, event, call_id, record_id,
			occurred_at, status, attempts, next_attempt_at, last_attempt_at, last_status, last_error, delivered_at, created_at,
			redelivery_of, lease_owner, lease_until)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, NULL, 0, '', NULL, $10, $11, '', NULL
		FROM webhooks WHERE client_id = $1 AND space_id = $3 AND is_active`,
		ev.ClientID, id, ev.SpaceID, ev.RoomID, ev.ID, ev.Name, ev.CallID, ev.RecordID, ms(ev.At), ms(now), redeliveryOf)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// EnqueueWebhookEvent queues ev when its space has an active webhook.
func (s *Store) EnqueueWebhookEvent(ctx context.Context, id string, ev store.WebhookEvent, now time.Time) (bool, error) {
	ok, err := enqueue(ctx, s.pool, id, ev, "", now)
	return ok, translate("enqueue webhook event", err)
}

// claimScan bounds the candidates a claim looks at.
const claimScan = 1000

// ClaimWebhookDeliveries leases due deliveries under a transaction-level
// advisory lock: claims of every replica go one at a time, so no delivery
// is handed out twice and the per-client cap counts every replica's
// leases exactly.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, c store.WebhookClaim) ([]store.WebhookDelivery, error) {
	const op = "claim webhook deliveries"
	if c.Max <= 0 || c.PerTenant <= 0 {
		return nil, nil
	}
	var out []store.WebhookDelivery
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		out = nil
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, claimLock); err != nil {
			return err
		}
		inflight := map[store.ClientID]int{}
		rows, err := tx.Query(ctx, `SELECT client_id, COUNT(*) FROM webhook_deliveries
			WHERE status = 'pending' AND lease_until > $1 GROUP BY client_id`, ms(c.Now))
		if err != nil {
			return err
		}
		for rows.Next() {
			var cl store.ClientID
			var n int
			if err := rows.Scan(&cl, &n); err != nil {
				rows.Close()
				return err
			}
			inflight[cl] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT `+deliveryCols+` FROM (
				SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.client_id ORDER BY d.seq) AS rk FROM webhook_deliveries d
				WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
				AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.room_id = d.room_id AND p.status = 'pending' AND p.seq < d.seq)) c
			WHERE rk <= $2 ORDER BY rk, seq LIMIT $3`, ms(c.Now), c.PerTenant, claimScan)
		if err != nil {
			return err
		}
		all, err := collect(rows, scanDelivery)
		if err != nil {
			return err
		}
		var seqs []int64
		for _, d := range all {
			if len(out) < c.Max && inflight[d.Event.ClientID] < c.PerTenant {
				inflight[d.Event.ClientID]++
				d.LeaseOwner, d.LeaseUntil, d.Attempts, d.LastAttemptAt = c.Owner, &c.LeaseUntil, d.Attempts+1, &c.Now
				out = append(out, d)
				seqs = append(seqs, d.Seq)
			}
		}
		if len(seqs) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, last_attempt_at = $3
			WHERE seq = ANY($4)`, c.Owner, ms(c.LeaseUntil), ms(c.Now), seqs)
		return err
	})
	return out, err
}

// RecordWebhookAttempt records how a claimed attempt ended, if the
// attempt still holds the delivery's lease (same owner, same attempt).
func (s *Store) RecordWebhookAttempt(ctx context.Context, a store.WebhookAttempt) error {
	const op = "record webhook attempt"
	status, next := store.DeliveryPending, a.NextAttemptAt
	var delivered *int64
	switch a.Outcome {
	case store.AttemptDelivered:
		status, next, delivered = store.DeliveryDelivered, a.At, msPtr(&a.At)
	case store.AttemptFailed:
		status, next = store.DeliveryFailed, a.At
	case store.AttemptRetry:
	default:
		return fmt.Errorf("postgres: %s: outcome %d", op, a.Outcome)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, last_status = $3, last_error = $4,
		delivered_at = $5, lease_owner = '', lease_until = NULL
		WHERE client_id = $6 AND id = $7 AND lease_owner = $8 AND attempts = $9 AND status = 'pending'`,
		status, ms(next), a.StatusCode, a.Error, delivered, a.ClientID, a.DeliveryID, a.Owner, a.Attempt)
	return one(op, tag, err)
}

// ListWebhookDeliveries lists a space's deliveries, newest first.
func (s *Store) ListWebhookDeliveries(ctx context.Context, client store.ClientID, space store.SpaceID, p store.Page) ([]store.WebhookDelivery, int, error) {
	const op = "list webhook deliveries"
	p = p.Normalize()
	var out []store.WebhookDelivery
	var total int
	err := s.readTx(ctx, op, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM spaces WHERE client_id = $1 AND id = $2`, client, space); err != nil {
			return translate(op, err)
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE client_id = $1 AND space_id = $2`, client, space).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE client_id = $1 AND space_id = $2
			ORDER BY seq DESC LIMIT $3 OFFSET $4`, client, space, p.Limit, p.Offset)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanDelivery)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// GetWebhookDelivery returns one delivery of a space.
func (s *Store) GetWebhookDelivery(ctx context.Context, client store.ClientID, space store.SpaceID, id string) (store.WebhookDelivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries
		WHERE client_id = $1 AND space_id = $2 AND id = $3`, client, space, id))
	return d, translate("get webhook delivery", err)
}

// RedeliverWebhook queues delivery id's event again as delivery newID.
func (s *Store) RedeliverWebhook(ctx context.Context, client store.ClientID, space store.SpaceID, id, newID string, now time.Time) (store.WebhookDelivery, error) {
	const op = "redeliver webhook"
	var out store.WebhookDelivery
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		d, err := scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries
			WHERE client_id = $1 AND space_id = $2 AND id = $3`, client, space, id))
		if err != nil {
			return translate(op, err)
		}
		ok, err := enqueue(ctx, tx, newID, d.Event, id, now)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("postgres: %s: no active webhook: %w", op, store.ErrConflict)
		}
		out, err = scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE client_id = $1 AND id = $2`, client, newID))
		return err
	})
	return out, err
}

// PruneWebhookDeliveries forgets finished deliveries created before before.
func (s *Store) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1`, ms(before))
	if err != nil {
		return 0, translate("prune webhook deliveries", err)
	}
	return int(tag.RowsAffected()), nil
}

// PendingWebhookDeliveries counts the unfinished deliveries.
func (s *Store) PendingWebhookDeliveries(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&n)
	return n, translate("count pending webhook deliveries", err)
}
