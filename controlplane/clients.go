package controlplane

import (
	"context"
	"fmt"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// ClientSecretPrefix starts every client secret.
const ClientSecretPrefix = "scs_"

// CreateClient makes an API client and returns its id and secret. The
// secret is stored only as a hash: this is the one time it is seen.
func CreateClient(ctx context.Context, st store.Clients, name string, now time.Time) (store.ClientID, string, error) {
	if name == "" || len(name) > 200 {
		return "", "", fmt.Errorf("%w: client name must be 1 to 200 bytes", ErrInvalidConfig)
	}
	id, err := auth.RandomID()
	if err != nil {
		return "", "", err
	}
	secret, err := auth.RandomString(ClientSecretPrefix, 32)
	if err != nil {
		return "", "", err
	}
	c := store.Client{ID: store.ClientID(id), Name: name, SecretHash: auth.HashSecret(secret), CreatedAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		return "", "", fmt.Errorf("controlplane: create client: %w", err)
	}
	return c.ID, secret, nil
}

// RotateClientSecret draws a new secret for a client; the old one stops
// working at once, and so do the client tokens (access and refresh)
// issued until now: every replica refuses them within a second (the
// store records the revocation with the new secret, in one transaction).
// Its users' tokens stay valid: they need the users' passwords too.
func RotateClientSecret(ctx context.Context, st store.Clients, id store.ClientID) (string, error) {
	secret, err := auth.RandomString(ClientSecretPrefix, 32)
	if err != nil {
		return "", err
	}
	if err := st.SetClientSecret(ctx, id, auth.HashSecret(secret), time.Now()); err != nil {
		return "", fmt.Errorf("controlplane: rotate client secret: %w", err)
	}
	return secret, nil
}
