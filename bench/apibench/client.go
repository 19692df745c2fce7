package apibench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/bench/load"
)

// client is a fasthttp client for one host.
type client struct {
	hc      *fasthttp.HostClient
	base    string // scheme://host
	timeout time.Duration
}

func newClient(target string, conns int) (*client, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("apibench: target %q is not an http(s) URL", target)
	}
	return &client{
		hc: &fasthttp.HostClient{
			Addr:                      hostPort(u),
			IsTLS:                     u.Scheme == "https",
			MaxConns:                  conns,
			ReadTimeout:               30 * time.Second,
			WriteTimeout:              30 * time.Second,
			MaxIdemponentCallAttempts: 1,
			// A plain dialer: fasthttp's default one starts a process-wide
			// cache goroutine that never ends.
			Dial: func(addr string) (net.Conn, error) {
				return (&net.Dialer{Timeout: 5 * time.Second}).Dial("tcp", addr)
			},
			// Short, so the pool's cleaner goroutine ends soon after close.
			MaxIdleConnDuration:           300 * time.Millisecond,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
		},
		base:    u.Scheme + "://" + u.Host,
		timeout: 30 * time.Second,
	}, nil
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}

// do sends one request; body (if not nil) is JSON. It returns the status
// and, when out is not nil and the status is 2xx, decodes the body.
func (c *client) do(_ context.Context, method, path, bearer string, body []byte, out any) (int, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.base + path)
	req.Header.SetMethod(method)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	if err := c.hc.DoTimeout(req, resp, c.timeout); err != nil {
		return 0, fmt.Errorf("transport: %w", err)
	}
	code := resp.StatusCode()
	if out != nil && code >= 200 && code < 300 {
		if err := json.Unmarshal(resp.Body(), out); err != nil {
			return code, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return code, nil
}

// expect turns a status other than 200 into a load.StatusError.
func expect(code int, err error) error {
	if err != nil {
		return err
	}
	if code != 200 {
		return &load.StatusError{Code: code}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with plain maps and structs
	}
	return b
}

// close drops the idle connections (their cleaner goroutine then ends).
func (c *client) close() { c.hc.CloseIdleConnections() }
