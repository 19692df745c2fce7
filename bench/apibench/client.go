package apibench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/bench/load"
)

// client sends requests to one control plane, or spreads them over its
// replicas (a client-side load balancer): each request goes to the next
// replica in turn, and one that could not reach a replica — the
// connection refused, or closed by the server before it read the request,
// as a replica that is restarting does — is sent to the next. A request
// the server may have read (a timeout, a reset after the request went
// out, an answer) is never sent again.
type client struct {
	hosts    []host
	next     atomic.Uint64
	timeout  time.Duration
	failover atomic.Int64 // requests sent again to another replica
}

type host struct {
	hc   *fasthttp.HostClient
	base string // scheme://host
}

func newClient(targets []string, conns int) (*client, error) {
	c := &client{timeout: 30 * time.Second}
	for _, target := range targets {
		u, err := url.Parse(target)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("apibench: target %q is not an http(s) URL", target)
		}
		c.hosts = append(c.hosts, host{
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
			base: u.Scheme + "://" + u.Host,
		})
	}
	if len(c.hosts) == 0 {
		return nil, errors.New("apibench: no target")
	}
	return c, nil
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

// unsent reports whether err means the request never reached a server that
// could act on it: no connection (refused, or none to be had in time), or
// a kept-alive connection the server closed before reading the request.
func unsent(err error) bool {
	var op *net.OpError
	return errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}

// do sends one request; body (if not nil) is JSON. It returns the status
// and, when out is not nil and the status is 2xx, decodes the body.
func (c *client) do(_ context.Context, method, path, bearer string, body []byte, out any) (int, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	first := c.next.Add(1)
	var err error
	for i := range len(c.hosts) {
		h := c.hosts[(first+uint64(i))%uint64(len(c.hosts))]
		req.Reset()
		resp.Reset()
		req.SetRequestURI(h.base + path)
		req.Header.SetMethod(method)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if body != nil {
			req.Header.SetContentType("application/json")
			req.SetBodyRaw(body)
		}
		if err = h.hc.DoTimeout(req, resp, c.timeout); err == nil {
			break
		}
		if !unsent(err) || len(c.hosts) == 1 {
			return 0, fmt.Errorf("transport: %w", err)
		}
		c.failover.Add(1)
	}
	if err != nil {
		return 0, fmt.Errorf("transport: no replica took the request: %w", err)
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

// close drops the idle connections (their cleaner goroutines then end).
func (c *client) close() {
	for _, h := range c.hosts {
		h.hc.CloseIdleConnections()
	}
}
