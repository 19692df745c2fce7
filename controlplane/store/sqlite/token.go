package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func scanRevocation(r scanner) (store.TokenRevocation, error) {
	var v store.TokenRevocation
	var before sql.NullInt64
	var created, until int64
	if err := r.Scan(&v.Seq, &v.Kind, &v.ClientID, &v.Subject, &before, &created, &until); err != nil {
		return store.TokenRevocation{}, err
	}
	v.IssuedBefore = fromNull(before)
	v.CreatedAt = fromMS(created)
	v.Until = fromMS(until)
	return v, nil
}

// revoke records v in tx (forgetting the revocations past their Until) and
// returns its seq.
func (s *Store) revoke(ctx context.Context, tx *sql.Tx, op string, v store.TokenRevocation) (int64, error) {
	if _, err := tx.StmtContext(ctx, s.st.purgeRevocations).ExecContext(ctx, ms(v.CreatedAt)); err != nil {
		return 0, translate(op, err)
	}
	var seq int64
	err := tx.StmtContext(ctx, s.st.insertRevocation).QueryRowContext(ctx, v.Kind, v.ClientID, v.Subject,
		msPtr(v.IssuedBefore), ms(v.CreatedAt), ms(v.Until)).Scan(&seq)
	if err != nil {
		return 0, translate(op, err)
	}
	return seq, nil
}

// RevokeTokens records a revocation in one transaction (after forgetting
// those past their Until) and returns its seq. The single writer commits
// in seq order.
func (s *Store) RevokeTokens(ctx context.Context, v store.TokenRevocation) (int64, error) {
	const op = "revoke tokens"
	var seq int64
	err := s.inTx(ctx, op, func(tx *sql.Tx) error {
		var err error
		seq, err = s.revoke(ctx, tx, op, v)
		return err
	})
	return seq, s.notified(err, store.TopicRevocations)
}

// ListTokenRevocations returns the revocations after seq that are still in
// force at now, by seq.
func (s *Store) ListTokenRevocations(ctx context.Context, after int64, now time.Time) ([]store.TokenRevocation, error) {
	const op = "list token revocations"
	rows, err := s.st.listRevocations.QueryContext(ctx, after, ms(now))
	if err != nil {
		return nil, translate(op, err)
	}
	defer rows.Close()
	var out []store.TokenRevocation
	for rows.Next() {
		v, err := scanRevocation(rows)
		if err != nil {
			return nil, translate(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return out, nil
}

// SpendToken inserts the spent mark; a mark already there is a reuse:
// store.ErrUsed, with onReuse recorded in the same transaction (which then
// commits). Marks past their expiry are forgotten first.
func (s *Store) SpendToken(ctx context.Context, t store.SpentToken, onReuse *store.TokenRevocation) error {
	const op = "spend token"
	reused := false
	err := s.inTx(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.st.purgeSpent).ExecContext(ctx, ms(t.SpentAt)); err != nil {
			return translate(op, err)
		}
		res, err := tx.StmtContext(ctx, s.st.spendToken).ExecContext(ctx, t.ClientID, t.ID, ms(t.SpentAt), ms(t.ExpiresAt))
		if err != nil {
			return translate(op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if reused = n == 0; reused && onReuse != nil {
			_, err = s.revoke(ctx, tx, op, *onReuse)
		}
		return err
	})
	if err == nil && reused {
		if onReuse != nil {
			s.hub.Notify(store.TopicRevocations)
		}
		err = fmt.Errorf("sqlite: %s: %w", op, store.ErrUsed)
	}
	return err
}

// deletionRevocation is the revocation a deletion of subject records.
func deletionRevocation(kind store.RevocationKind, client store.ClientID, subject string) store.TokenRevocation {
	now := time.Now()
	return store.TokenRevocation{Kind: kind, ClientID: client, Subject: subject, CreatedAt: now, Until: now.Add(store.RevocationHorizon)}
}
