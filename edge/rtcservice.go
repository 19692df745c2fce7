package edge

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"

	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/edge/signal"
	"github.com/spacecast/spacecast/edge/token"
)

// httpStatus chooses the HTTP status for a signalling error: the one place
// that does.
func httpStatus(err error) int {
	switch {
	case token.Unauthenticated(err):
		return http.StatusUnauthorized
	case errors.Is(err, token.ErrForbidden), errors.Is(err, room.ErrFull), errors.Is(err, room.ErrRemoved),
		errors.Is(err, ErrRevoked):
		return http.StatusForbidden
	case errors.Is(err, room.ErrClosed), errors.Is(err, ErrDraining), errors.Is(err, ErrEdgeFull):
		return http.StatusServiceUnavailable
	case errors.Is(err, room.ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

func writeError(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), httpStatus(err))
}

// bearer returns the access token from the query (browsers) or the
// Authorization header (server SDKs).
func bearer(r *http.Request) string {
	if t := r.URL.Query().Get("access_token"); t != "" {
		return t
	}
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

func boolParam(r *http.Request, name string, def bool) bool {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def
	}
	return b
}

// isResume reports whether the client asks to resume its session (a
// reconnect with the sid it had) rather than to join.
func isResume(r *http.Request) bool {
	return boolParam(r, "reconnect", false) && r.URL.Query().Get("sid") != ""
}

// authorize verifies the token and its join grant.
func (e *Edge) authorize(r *http.Request) (*auth.ClaimGrants, string, time.Time, error) {
	g, iat, err := e.verifier.VerifyIssued(bearer(r))
	if err != nil {
		return nil, "", iat, err
	}
	name, err := token.Join(g)
	if err != nil {
		return nil, "", iat, err
	}
	if e.revoked != nil && e.revoked(name, g.Identity, iat) {
		return nil, "", iat, ErrRevoked
	}
	return g, name, iat, nil
}

// serveValidate answers the SDKs' pre-flight / post-failure check.
func (e *Edge) serveValidate(w http.ResponseWriter, r *http.Request) {
	if _, _, _, err := e.authorize(r); err != nil {
		writeError(w, err)
		return
	}
	if e.Draining() && !isResume(r) {
		writeError(w, ErrDraining)
		return
	}
	_, _ = w.Write([]byte("success"))
}

// serveV1 makes single-peer-connection clients (livekit-client's default
// first attempt, /rtc/v1) fall back to the dual peer connection /rtc path.
func (e *Edge) serveV1(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "v1 signalling path not served by this edge; use /rtc", http.StatusNotFound)
}

var upgrader = websocket.Upgrader{
	ReadBufferSize: 4096, WriteBufferSize: 4096,
	CheckOrigin: func(*http.Request) bool { return true }, // authorised by token, not origin
}

func (e *Edge) serveRTC(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "websocket upgrade required", http.StatusBadRequest)
		return
	}
	g, roomName, iat, err := e.authorize(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !e.enter() {
		writeError(w, room.ErrClosed)
		return
	}
	defer e.sessions.Done()

	resume := isResume(r)
	var p *room.Participant
	if resume {
		p, err = e.rooms.Resume(roomName, g.Identity, r.URL.Query().Get("sid"))
		if err != nil {
			// Unknown session: tell the client to join afresh.
			e.refuseOverWS(w, r, livekit.DisconnectReason_STATE_MISMATCH, livekit.LeaveRequest_RECONNECT)
			return
		}
	} else {
		if e.Draining() {
			writeError(w, ErrDraining)
			return
		}
		if e.cfg.Capacity > 0 && e.Participants() >= e.cfg.Capacity {
			writeError(w, ErrEdgeFull)
			return
		}
		jp := joinParams(r, g, roomName)
		jp.IssuedAt = iat
		p, err = e.rooms.Join(jp)
		if err != nil {
			writeError(w, err)
			return
		}
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		if !resume {
			p.Close(livekit.DisconnectReason_JOIN_FAILURE)
		}
		return
	}
	conn := signal.NewConn(ws, e.cfg.MaxSignalMessageBytes)
	e.track(r, conn.Abort)
	defer e.untrack(r)
	go conn.WriteLoop()
	if !p.Attach(conn, resume) {
		conn.Close("participant closed")
	}
	for {
		req, err := conn.ReadRequest()
		if err != nil {
			p.Detach(conn, err)
			break
		}
		if !p.AllowSignal() {
			continue // dropped and counted; a flood disconnects
		}
		if !p.Deliver(conn, req) {
			conn.Close("participant closed")
		}
	}
	<-conn.Done()
}

// refuseOverWS upgrades only to send a LeaveRequest: the clients read the
// first message of a reconnect attempt, not an HTTP status.
func (e *Edge) refuseOverWS(w http.ResponseWriter, r *http.Request, reason livekit.DisconnectReason, action livekit.LeaveRequest_Action) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn := signal.NewConn(ws, e.cfg.MaxSignalMessageBytes)
	go conn.WriteLoop()
	_ = conn.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
		Reason: reason, Action: action, CanReconnect: action == livekit.LeaveRequest_RECONNECT,
	}}})
	conn.Close(reason.String())
	<-conn.Done()
}

func joinParams(r *http.Request, g *auth.ClaimGrants, roomName string) room.JoinParams {
	q := r.URL.Query()
	proto, _ := strconv.Atoi(q.Get("protocol"))
	perm := token.Permission(g)
	maxParticipants := 0
	if g.RoomConfig != nil {
		maxParticipants = int(min(g.RoomConfig.MaxParticipants, math.MaxInt32))
	}
	return room.JoinParams{
		MaxParticipants: maxParticipants,
		Room:            roomName, Identity: g.Identity, Name: g.Name, Metadata: g.Metadata,
		Attributes: g.Attributes, Permission: perm,
		AutoSubscribe: boolParam(r, "auto_subscribe", true), Kind: g.GetParticipantKind(),
		Client: &livekit.ClientInfo{
			Sdk:     livekit.ClientInfo_SDK(livekit.ClientInfo_SDK_value[strings.ToUpper(q.Get("sdk"))]),
			Version: q.Get("version"), Protocol: int32(proto), Os: q.Get("os"),
			Browser: q.Get("browser"), BrowserVersion: q.Get("browser_version"),
		},
	}
}

// enter registers a signalling session unless the edge is closing.
func (e *Edge) enter() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.sessions.Add(1)
	return true
}

func (e *Edge) track(r *http.Request, abort func()) {
	e.mu.Lock()
	e.conns[r] = abort
	closed := e.closed
	e.mu.Unlock()
	if closed {
		abort()
	}
}

func (e *Edge) untrack(r *http.Request) {
	e.mu.Lock()
	delete(e.conns, r)
	e.mu.Unlock()
}
