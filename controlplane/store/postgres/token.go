package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
)

const revocationCols = `seq, kind, client_id, subject, issued_before, created_at, until`

// revocationLock is the transaction-level advisory lock under which seqs
// are drawn and committed ("revoke" in ASCII).
const revocationLock int64 = 0x72_65_76_6f_6b_65

func scanRevocation(r pgx.Row) (store.TokenRevocation, error) {
	var v store.TokenRevocation
	var before *int64
	var created, until int64
	if err := r.Scan(&v.Seq, &v.Kind, &v.ClientID, &v.Subject, &before, &created, &until); err != nil {
		return store.TokenRevocation{}, err
	}
	v.IssuedBefore = fromPtr(before)
	v.CreatedAt = fromMS(created)
	v.Until = fromMS(until)
	return v, nil
}

// revoke records v in tx (forgetting the revocations past their Until) and
// returns its seq. It takes the revocation lock, held until tx ends, and
// draws the seq under it: revocations commit in seq order, so a reader
// that saw seq n can never miss a smaller one committed later.
func (s *Store) revoke(ctx context.Context, tx pgx.Tx, v store.TokenRevocation) (int64, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, revocationLock); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM token_revocations WHERE until < $1`, ms(v.CreatedAt)); err != nil {
		return 0, err
	}
	var seq int64
	err := tx.QueryRow(ctx, `INSERT INTO token_revocations (seq, kind, client_id, subject, issued_before, created_at, until)
		VALUES (nextval('token_revocations_seq'), $1, $2, $3, $4, $5, $6) RETURNING seq`,
		v.Kind, v.ClientID, v.Subject, msPtr(v.IssuedBefore), ms(v.CreatedAt), ms(v.Until)).Scan(&seq)
	return seq, err
}

// RevokeTokens records a revocation in one transaction and returns its seq.
func (s *Store) RevokeTokens(ctx context.Context, v store.TokenRevocation) (int64, error) {
	var seq int64
	err := s.inTx(ctx, "revoke tokens", func(tx pgx.Tx) error {
		var err error
		seq, err = s.revoke(ctx, tx, v)
		return err
	})
	return seq, err
}

// ListTokenRevocations returns the revocations after seq that are still in
// force at now, by seq.
func (s *Store) ListTokenRevocations(ctx context.Context, after int64, now time.Time) ([]store.TokenRevocation, error) {
	const op = "list token revocations"
	rows, err := s.pool.Query(ctx, `SELECT `+revocationCols+` FROM token_revocations WHERE seq > $1 AND until > $2 ORDER BY seq`, after, ms(now))
	if err != nil {
		return nil, translate(op, err)
	}
	out, err := collect(rows, scanRevocation)
	return out, translate(op, err)
}

// SpendToken inserts the spent mark; a mark already there is a reuse:
// store.ErrUsed, with onReuse recorded in the same transaction (which then
// commits). Concurrent spenders of one id queue on the unique key: one
// inserts, the others find it. Marks past their expiry are forgotten first.
func (s *Store) SpendToken(ctx context.Context, t store.SpentToken, onReuse *store.TokenRevocation) error {
	const op = "spend token"
	reused := false
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM spent_tokens WHERE expires_at < $1`, ms(t.SpentAt)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO spent_tokens (client_id, id, spent_at, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (client_id, id) DO NOTHING`, t.ClientID, t.ID, ms(t.SpentAt), ms(t.ExpiresAt))
		if err != nil {
			return err
		}
		if reused = tag.RowsAffected() == 0; reused && onReuse != nil {
			_, err = s.revoke(ctx, tx, *onReuse)
		}
		return err
	})
	if err == nil && reused {
		err = fmt.Errorf("postgres: %s: %w", op, store.ErrUsed)
	}
	return err
}

// deletionRevocation is the revocation a deletion of subject records.
func deletionRevocation(kind store.RevocationKind, client store.ClientID, subject string) store.TokenRevocation {
	now := time.Now()
	return store.TokenRevocation{Kind: kind, ClientID: client, Subject: subject, CreatedAt: now, Until: now.Add(store.RevocationHorizon)}
}
