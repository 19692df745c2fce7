package controlplane

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestOpenAPIMatchesRoutes fails if a registered route is missing from the
// served spec, or the spec names a route that does not exist.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := start(t, envOpts{})
	r := e.must(t, 200, "GET", "/v1/openapi.json", "", nil)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	inSpec := map[string]bool{}
	for p, methods := range doc.Paths {
		for m := range methods {
			inSpec[strings.ToUpper(m)+" "+p] = true
		}
	}
	registered := map[string]bool{"GET /v1/openapi.json": true}
	for _, rt := range e.srv.Routes() {
		registered[rt.Method+" "+rt.Path] = true
	}
	var missing, extra []string
	for k := range registered {
		if !inSpec[k] {
			missing = append(missing, k)
		}
	}
	for k := range inSpec {
		if !registered[k] {
			extra = append(extra, k)
		}
	}
	for k := range inSpec {
		if strings.Contains(k, " /internal/") {
			t.Errorf("the public spec names an internal route: %s", k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Fatalf("routes missing from the spec: %v\nspec routes that do not exist: %v", missing, extra)
	}
	// operationIds agree too (they are the Swagger UI deep links).
	for _, rt := range e.srv.Routes() {
		var op struct {
			OperationID string `json:"operationId"`
		}
		_ = json.Unmarshal(doc.Paths[rt.Path][strings.ToLower(rt.Method)], &op)
		if op.OperationID != rt.ID {
			t.Errorf("%s %s: spec operationId %q, route %q", rt.Method, rt.Path, op.OperationID, rt.ID)
		}
	}
	// Swagger UI is served with deep linking on.
	ui := e.must(t, 200, "GET", "/docs/", "", nil)
	if !strings.Contains(string(ui.body), "swagger-ui-bundle.js") {
		t.Fatalf("/docs/ = %s", ui.body)
	}
	if js := e.must(t, 200, "GET", "/docs/init.js", "", nil); !strings.Contains(string(js.body), "deepLinking: true") {
		t.Fatal("deep linking is off")
	}
	if b := e.must(t, 200, "GET", "/docs/swagger-ui-bundle.js", "", nil); len(b.body) < 100_000 || !strings.HasPrefix(b.header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("bundle: %d bytes, %s", len(b.body), b.header.Get("Content-Type"))
	}
	e.must(t, 404, "GET", "/docs/nope.js", "", nil)
}

// TestHealth: /healthz and /readyz.
func TestHealth(t *testing.T) {
	e := start(t, envOpts{})
	e.must(t, 200, "GET", "/healthz", "", nil)
	e.must(t, 200, "GET", "/readyz", "", nil)
	e.st.Close()
	// The last check is kept for up to readyCacheTTL.
	within(t, readyCacheTTL+5*time.Second, "readyz 503 with a closed store", func() bool {
		return e.do(t, "GET", "/readyz", "", nil).status == 503
	})
}

// TestInternalMount: /internal/* reaches Deps.Internal (and nothing else
// does); without one it is 404.
func TestInternalMount(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	e := start(t, envOpts{internal: func(c *fasthttp.RequestCtx) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, string(c.Method())+" "+string(c.Path()))
		c.SetStatusCode(204)
	}})
	e.must(t, 204, "POST", "/internal/events", "", map[string]any{"event": "x"})
	e.must(t, 404, "GET", "/internalx", "", nil)
	e.must(t, 404, "GET", "/v1/internal/events", "", nil)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, ",") != "POST /internal/events" {
		t.Fatalf("internal handler saw %v", seen)
	}
	bare := start(t, envOpts{})
	if r := bare.do(t, "POST", "/internal/events", "", nil); r.status != 404 || r.str(t, "code") != "not_found" {
		t.Fatalf("no internal handler: %d %s", r.status, r.body)
	}
}
