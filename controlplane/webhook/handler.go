package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/occupancy"
)

// Handler serves occupancy.Path on the control plane's internal surface
// (controlplane.Deps.Internal): edges POST their room-state batches,
// authenticated with a token signed by a cluster API key (occupancy.Sign).
type Handler struct {
	calls *Calls
	keys  atomic.Pointer[map[string]string]
	log   *slog.Logger
	now   func() time.Time
	wait  time.Duration
}

// NewHandler builds the edge-events handler over calls, accepting tokens
// signed with any of the cluster's API keys.
func NewHandler(calls *Calls, cl clusterkey.Config, log *slog.Logger) (*Handler, error) {
	if calls == nil {
		return nil, errors.New("webhook: handler: calls is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{calls: calls, log: log.With("component", "calls"), now: time.Now, wait: 5 * time.Second}
	if err := h.SetCluster(cl); err != nil {
		return nil, err
	}
	return h, nil
}

// SetCluster replaces the accepted keys (after a key rotation reloaded the
// config); safe while serving.
func (h *Handler) SetCluster(cl clusterkey.Config) error {
	if len(cl.APIKeys) == 0 {
		return errors.New("webhook: handler: the cluster has no API keys")
	}
	keys := make(map[string]string, len(cl.APIKeys))
	for k, v := range cl.APIKeys {
		keys[k] = v
	}
	h.keys.Store(&keys)
	return nil
}

// Serve is the fasthttp handler: 204 when the batch was taken; 401 without
// a valid token for this body; 403 when the token's edge is not the
// batch's; 400 for a malformed batch; 405, 404; 503 when the tracker
// cannot take it now.
func (h *Handler) Serve(c *fasthttp.RequestCtx) {
	if string(c.Path()) != occupancy.Path {
		writeError(c, http.StatusNotFound, "not_found", "no such path")
		return
	}
	if !c.IsPost() {
		c.Response.Header.Set("Allow", "POST")
		writeError(c, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	body := c.PostBody()
	auth := string(c.Request.Header.Peek("Authorization"))
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		c.Response.Header.Set("WWW-Authenticate", `Bearer realm="spacecast-internal"`)
		writeError(c, http.StatusUnauthorized, "unauthorized", "a bearer token signed with a cluster key is required")
		return
	}
	edge, err := occupancy.Verify(*h.keys.Load(), tok, body, h.now())
	if err != nil {
		h.log.Warn("edge batch refused", "remote", c.RemoteIP().String(), "err", err)
		c.Response.Header.Set("WWW-Authenticate", `Bearer realm="spacecast-internal", error="invalid_token"`)
		writeError(c, http.StatusUnauthorized, "unauthorized", "invalid token")
		return
	}
	b, err := occupancy.Decode(body)
	if err != nil {
		writeError(c, http.StatusBadRequest, "invalid_batch", err.Error())
		return
	}
	if b.Edge != edge {
		writeError(c, http.StatusForbidden, "forbidden", "the token was issued to another edge")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.wait)
	err = h.calls.Report(ctx, b)
	cancel()
	if err != nil {
		writeError(c, http.StatusServiceUnavailable, "unavailable", "the control plane cannot take the batch now")
		return
	}
	c.SetStatusCode(http.StatusNoContent)
}

func writeError(c *fasthttp.RequestCtx, status int, code, msg string) {
	b, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	c.SetStatusCode(status)
	c.SetContentType("application/json")
	c.SetBody(b)
}
