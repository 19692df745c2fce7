package edge

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Check is one readiness condition the process adds to the edge's own (for
// example "gossip": the fleet was joined): Err returns nil when it holds,
// else why not. It must answer quickly: /readyz runs every check.
type Check struct {
	Name string
	Err  func() error
}

// errNotRunning: Run has not started serving, or has returned.
var errNotRunning = errors.New("not serving")

// readiness is /readyz's answer: each check's state, "ok" or why not.
type readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// Ready runs every readiness check: the edge's own (serving, not
// draining) and those of Deps.Checks. It returns the answer /readyz gives.
func (e *Edge) Ready() (ok bool, checks map[string]string) {
	checks = map[string]string{}
	ok = true
	note := func(name string, err error) {
		if err != nil {
			ok = false
			checks[name] = err.Error()
			return
		}
		checks[name] = "ok"
	}
	note("serving", func() error {
		if !e.serving.Load() {
			return errNotRunning
		}
		return nil
	}())
	note("draining", func() error {
		if e.Draining() {
			return ErrDraining
		}
		return nil
	}())
	for _, c := range e.checks {
		note(c.Name, c.Err())
	}
	return ok, checks
}

// serveHealthz answers 200 while the process serves HTTP at all: a
// liveness probe, which must not fail for what a restart cannot fix
// (draining, a lost fleet).
func serveHealthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// serveReadyz answers 200 when the edge takes new participants and 503
// with the failing checks when it does not (draining from the first
// SIGTERM on, the fleet not joined, ...): load balancers and Kubernetes
// stop sending it new work.
func (e *Edge) serveReadyz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ok, checks := e.Ready()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(readiness{Ready: ok, Checks: checks})
}
