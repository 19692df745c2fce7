package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func scanClient(r scanner) (store.Client, error) {
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
	_, err := s.st.insertClient.ExecContext(ctx, c.ID, c.Name, c.SecretHash, ms(c.CreatedAt))
	return translate("create client", err)
}

// GetClient returns one client.
func (s *Store) GetClient(ctx context.Context, id store.ClientID) (store.Client, error) {
	c, err := scanClient(s.st.getClient.QueryRowContext(ctx, id))
	return c, translate("get client", err)
}

// ListClients returns every client, newest first.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.st.listClients.QueryContext(ctx)
	if err != nil {
		return nil, translate("list clients", err)
	}
	defer rows.Close()
	var out []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, translate("list clients", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list clients: %w", err)
	}
	return out, nil
}

// SetClientSecret replaces the client's secret hash and revokes the
// client's own tokens issued at or before at, in one transaction.
func (s *Store) SetClientSecret(ctx context.Context, id store.ClientID, secretHash string, at time.Time) error {
	const op = "set client secret"
	return s.notified(s.inTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.st.setClientSecret).ExecContext(ctx, secretHash, id)
		if err := one(op, res, err); err != nil {
			return err
		}
		_, err = s.revoke(ctx, tx, op, store.TokenRevocation{Kind: store.RevokeClientTokens, ClientID: id, Subject: string(id),
			IssuedBefore: &at, CreatedAt: at, Until: at.Add(store.RevocationHorizon)})
		return err
	}), store.TopicRevocations)
}

// DeleteClient removes the client (its users, spaces, rooms and everything
// under them go with it: foreign-key cascades) and revokes every token of
// it, in one transaction.
func (s *Store) DeleteClient(ctx context.Context, id store.ClientID) error {
	const op = "delete client"
	return s.notified(s.inTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.st.deleteClient).ExecContext(ctx, id)
		if err := one(op, res, err); err != nil {
			return err
		}
		_, err = s.revoke(ctx, tx, op, deletionRevocation(store.RevokeClient, id, string(id)))
		return err
	}), store.TopicRooms, store.TopicRevocations)
}
