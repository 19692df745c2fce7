package reporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/occupancy"
)

// Client is the occupancy.Sink that POSTs batches to a control plane: one of
// several replicas, any of which takes any edge's batches. It sticks to the
// replica that last answered and moves on to the next when one cannot take
// a batch (unreachable, 5xx), within the same Report.
type Client struct {
	endpoints []string
	current   atomic.Int32 // index into endpoints
	key       atomic.Pointer[signingKey]
	http      *http.Client
	now       func() time.Time
}

type signingKey struct{ key, secret string }

// NewClient builds a Client for the control plane at base (scheme://host[:port],
// its internal address) and, in order, the other replicas more, signing
// with the cluster's current LiveKit API key. It starts nothing; Close
// releases its idle connections.
func NewClient(base string, cl clusterkey.Config, more ...string) (*Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	c := &Client{
		http: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now:  time.Now,
	}
	for _, b := range append([]string{base}, more...) {
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: control plane URL %q: want http(s)://host[:port]", ErrInvalid, b)
		}
		c.endpoints = append(c.endpoints, strings.TrimSuffix(b, "/")+occupancy.Path)
	}
	if err := c.SetCluster(cl); err != nil {
		return nil, err
	}
	return c, nil
}

// SetCluster switches to the cluster's current signing key (after a key
// rotation reloaded the config); safe while Report runs.
func (c *Client) SetCluster(cl clusterkey.Config) error {
	key, secret := cl.SigningSecret()
	if key == "" || secret == "" {
		return fmt.Errorf("%w: the cluster has no signing key", ErrInvalid)
	}
	c.key.Store(&signingKey{key: key, secret: secret})
	return nil
}

// Report implements occupancy.Sink: a POST to the current replica and, when it
// cannot take the batch (no connection, 5xx), to each other replica in
// turn; any answer but 2xx from all is an error. A 4xx is final (the batch
// or its token is refused: another replica would refuse it too).
func (c *Client) Report(ctx context.Context, b occupancy.Batch) error {
	body, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("reporter: encode: %w", err)
	}
	k := c.key.Load()
	tok, err := occupancy.Sign(k.key, k.secret, b.Edge, body, c.now())
	if err != nil {
		return err
	}
	first := int(c.current.Load())
	var errs []error
	for i := range c.endpoints {
		n := (first + i) % len(c.endpoints)
		retry, err := c.post(ctx, c.endpoints[n], tok, body)
		if err == nil {
			c.current.Store(int32(n))
			return nil
		}
		errs = append(errs, err)
		if !retry || ctx.Err() != nil {
			break
		}
	}
	if len(c.endpoints) > 1 {
		c.current.Store(int32((first + 1) % len(c.endpoints))) // start elsewhere next time
	}
	return errors.Join(errs...)
}

// post sends one batch to endpoint; retry says another replica may take it.
func (c *Client) post(ctx context.Context, endpoint, tok string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("reporter: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.http.Do(req)
	if err != nil {
		return true, fmt.Errorf("reporter: post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode/100 == 5, fmt.Errorf("reporter: control plane answered %d", resp.StatusCode)
	}
	return false, nil
}

// Close closes idle connections; safe to call twice.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}
