package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
)

const clientCols = `id, name, secret_hash, created_at`

func scanClient(r pgx.Row) (store.Client, error) {
	var c store.Client
	var created int64
	if err := r.Scan(&c.ID, &c.Name, &c.SecretHash, &created); err != nil {
		return store.Client{}, err
	}
	c.CreatedAt = fromMS(created)
	return c, nil
}

// CreateClient stores a new API client; a used id gives store.ErrConflict.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO clients (`+clientCols+`) VALUES ($1, $2, $3, $4)`,
		c.ID, c.Name, c.SecretHash, ms(c.CreatedAt))
	return translate("create client", err)
}

// GetClient returns one client.
func (s *Store) GetClient(ctx context.Context, id store.ClientID) (store.Client, error) {
	c, err := scanClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
	return c, translate("get client", err)
}

// ListClients returns every client, newest first.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, translate("list clients", err)
	}
	out, err := collect(rows, scanClient)
	return out, translate("list clients", err)
}

// SetClientSecret replaces the client's secret hash and revokes the
// client's own tokens issued at or before at, in one transaction.
func (s *Store) SetClientSecret(ctx context.Context, id store.ClientID, secretHash string, at time.Time) error {
	const op = "set client secret"
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE clients SET secret_hash = $1 WHERE id = $2`, secretHash, id)
		if err := one(op, tag, err); err != nil {
			return err
		}
		_, err = s.revoke(ctx, tx, store.TokenRevocation{Kind: store.RevokeClientTokens, ClientID: id, Subject: string(id),
			IssuedBefore: &at, CreatedAt: at, Until: at.Add(store.RevocationHorizon)})
		return err
	})
}

// DeleteClient removes the client (everything it owns goes with it:
// foreign-key cascades) and revokes every token of it, in one transaction.
func (s *Store) DeleteClient(ctx context.Context, id store.ClientID) error {
	const op = "delete client"
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
		if err := one(op, tag, err); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM access_links WHERE client_id = $1`, id); err != nil {
			return err
		}
		_, err = s.revoke(ctx, tx, deletionRevocation(store.RevokeClient, id, string(id)))
		return err
	})
}
