package edge

import (
	"context"
	"errors"
	"net/http"
	"time"
)

var (
	// ErrDraining refuses a new participant on an edge that is draining
	// (503): the client goes back to the control plane, which places it on
	// another edge. Participants already here stay, and may resume.
	ErrDraining = errors.New("edge: draining, join through the control plane again")
	// ErrEdgeFull refuses a new participant beyond Config.Capacity (503).
	ErrEdgeFull = errors.New("edge: at capacity, join through the control plane again")
	// ErrRevoked refuses a credential revoked cluster-wide (403).
	ErrRevoked = errors.New("edge: this participant's credential was revoked")
)

// Drain stops taking new participants; those already connected stay until
// they leave or the edge closes. Safe to call more than once.
func (e *Edge) Drain() {
	e.mu.Lock()
	first := !e.draining
	e.draining = true
	e.mu.Unlock()
	if first {
		e.log.Info("edge draining: no new participants")
	}
}

// Draining reports whether Drain was called.
func (e *Edge) Draining() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.draining
}

// Participants counts the participants in every room of this edge.
func (e *Edge) Participants() int { return e.rooms.ParticipantCount() }

// WaitEmpty blocks until no participant is left on the edge (polling every
// interval) or ctx ends; it reports whether the edge emptied.
func (e *Edge) WaitEmpty(ctx context.Context, interval time.Duration) bool {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if e.Participants() == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// serveProbe answers the RTT probe clients send to every region before a
// join (GET /probe): 204, no body, never cached.
func serveProbe(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// Evict disconnects, with PARTICIPANT_REMOVED, the participant with this
// identity in room (every room when room is "") whose token was issued at
// or before issuedBefore (zero: whatever its token), and keeps it out as a
// moderator's removal does. It returns how many it disconnected. The fleet
// calls it for revocations gossiped from the control plane, so a removal
// reaches the participant wherever it is connected, even before the room
// directory says where that is.
func (e *Edge) Evict(roomName, identity string, issuedBefore time.Time) int {
	n := 0
	for _, r := range e.rooms.Rooms() {
		if roomName != "" && r.Name() != roomName {
			continue
		}
		if r.RemoveIssued(identity, issuedBefore) {
			n++
			e.log.Info("participant evicted by a cluster revocation", "room", r.Name(), "participant", identity)
		}
	}
	return n
}
