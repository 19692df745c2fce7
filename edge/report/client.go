package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spacecast/spacecast/internal/cluster"
)

// Client is the Sink that POSTs batches to a control plane.
type Client struct {
	endpoint string
	key      atomic.Pointer[signingKey]
	http     *http.Client
	now      func() time.Time
}

type signingKey struct{ key, secret string }

// NewClient builds a Client for the control plane at base (scheme://host[:port],
// its internal address), signing with the cluster's current LiveKit API key.
// It starts nothing; Close releases its idle connections.
func NewClient(base string, cl cluster.Config) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: control plane URL %q: want http(s)://host[:port]", ErrInvalid, base)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	c := &Client{
		endpoint: strings.TrimSuffix(base, "/") + Path,
		http:     &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now:      time.Now,
	}
	if err := c.SetCluster(cl); err != nil {
		return nil, err
	}
	return c, nil
}

// SetCluster switches to the cluster's current signing key (after a key
// rotation reloaded the config); safe while Report runs.
func (c *Client) SetCluster(cl cluster.Config) error {
	key, secret := cl.SigningSecret()
	if key == "" || secret == "" {
		return fmt.Errorf("%w: the cluster has no signing key", ErrInvalid)
	}
	c.key.Store(&signingKey{key: key, secret: secret})
	return nil
}

// Report implements Sink: one POST; any answer but 2xx is an error.
func (c *Client) Report(ctx context.Context, b Batch) error {
	body, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("report: encode: %w", err)
	}
	k := c.key.Load()
	tok, err := Sign(k.key, k.secret, b.Edge, body, c.now())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("report: post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("report: control plane answered %d", resp.StatusCode)
	}
	return nil
}

// Close closes idle connections; safe to call twice.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}
