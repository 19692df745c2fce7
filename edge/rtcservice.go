package edge

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/edge/signal"
	"github.com/spacecast/spacecast/edge/token"
	"github.com/spacecast/spacecast/internal/requestid"
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
	case errors.Is(err, room.ErrNotFound), errors.Is(err, room.ErrUnsupported):
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

// maxJoinRequest bounds /rtc/v1's join_request, encoded and decompressed
// (it carries the publisher's first offer).
const maxJoinRequest = 256 << 10

var errJoinRequest = errors.New("edge: malformed join_request")

// joinRequest decodes /rtc/v1's join_request parameter: the URL-safe
// base64 of a WrappedJoinRequest whose join request may be gzip-compressed
// (livekit-client's single peer connection path). It returns nil when the
// parameter is absent.
func joinRequest(r *http.Request) (*livekit.JoinRequest, error) {
	v := r.URL.Query().Get("join_request")
	if v == "" {
		return nil, nil
	}
	if len(v) > maxJoinRequest {
		return nil, fmt.Errorf("%w: %d bytes", errJoinRequest, len(v))
	}
	raw, err := base64.URLEncoding.DecodeString(v)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "=")); err != nil {
			return nil, fmt.Errorf("%w: %w", errJoinRequest, err)
		}
	}
	var w livekit.WrappedJoinRequest
	if err := proto.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", errJoinRequest, err)
	}
	b := w.JoinRequest
	switch w.Compression {
	case livekit.WrappedJoinRequest_NONE:
	case livekit.WrappedJoinRequest_GZIP:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errJoinRequest, err)
		}
		if b, err = io.ReadAll(io.LimitReader(zr, maxJoinRequest+1)); err != nil {
			return nil, fmt.Errorf("%w: %w", errJoinRequest, err)
		}
		if len(b) > maxJoinRequest {
			return nil, fmt.Errorf("%w: more than %d bytes decompressed", errJoinRequest, maxJoinRequest)
		}
	default:
		return nil, fmt.Errorf("%w: compression %v", errJoinRequest, w.Compression)
	}
	var jr livekit.JoinRequest
	if err := proto.Unmarshal(b, &jr); err != nil {
		return nil, fmt.Errorf("%w: %w", errJoinRequest, err)
	}
	return &jr, nil
}

var upgrader = websocket.Upgrader{
	ReadBufferSize: 4096, WriteBufferSize: 4096,
	CheckOrigin: func(*http.Request) bool { return true }, // authorised by token, not origin
}

// serveRTC is /rtc: a publisher and a subscriber peer connection, the
// edge offering on the subscriber one.
func (e *Edge) serveRTC(w http.ResponseWriter, r *http.Request) { e.serveSignal(w, r, nil) }

// serveV1 is /rtc/v1, livekit-client's first choice: one peer connection
// both ways, the client offering (the first offer inside the join request),
// the edge asking for more media sections when it has tracks to send.
func (e *Edge) serveV1(w http.ResponseWriter, r *http.Request) {
	jr, err := joinRequest(r)
	if err == nil && jr == nil {
		err = fmt.Errorf("%w: missing", errJoinRequest)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	e.serveSignal(w, r, jr)
}

// serveSignal runs one signalling session; jr is /rtc/v1's join request
// (nil for /rtc).
func (e *Edge) serveSignal(w http.ResponseWriter, r *http.Request, jr *livekit.JoinRequest) {
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "websocket upgrade required", http.StatusBadRequest)
		return
	}
	g, roomName, iat, err := e.authorize(r)
	if err != nil {
		writeError(w, err)
		return
	}
	// The control plane's request id of the join that minted the token
	// ties this session's lines to the join's access-log line.
	log := e.log.With("room", roomName, "participant", g.Identity, "request_id", requestid.FromToken(bearer(r)))
	if !e.enter() {
		writeError(w, room.ErrClosed)
		return
	}
	defer e.sessions.Done()

	resume, sid := isResume(r), r.URL.Query().Get("sid")
	if jr != nil {
		resume, sid = jr.Reconnect && jr.ParticipantSid != "", jr.ParticipantSid
	}
	var p *room.Participant
	autoRecord := false
	if resume {
		p, err = e.rooms.Resume(roomName, g.Identity, sid)
		if err != nil {
			// Unknown session: tell the client to join afresh.
			log.Info("resume refused: unknown session", "sid", sid)
			e.refuseOverWS(w, r, livekit.DisconnectReason_STATE_MISMATCH, livekit.LeaveRequest_RECONNECT)
			return
		}
	} else {
		if e.Draining() {
			log.Info("join refused", "err", ErrDraining)
			writeError(w, ErrDraining)
			return
		}
		if e.cfg.Capacity > 0 && e.Participants() >= e.cfg.Capacity {
			log.Info("join refused", "err", ErrEdgeFull)
			writeError(w, ErrEdgeFull)
			return
		}
		jp := joinParams(r, g, roomName)
		jp.IssuedAt = iat
		if jr != nil {
			jp.Single = true
			jp.AutoSubscribe = jr.GetConnectionSettings().GetAutoSubscribe()
			if ci := jr.GetClientInfo(); ci != nil {
				jp.Client = ci
			}
		}
		fresh := e.rooms.Room(roomName) == nil
		p, err = e.rooms.Join(jp)
		if err != nil {
			log.Info("join refused", "err", err)
			writeError(w, err)
			return
		}
		// The room records automatically (the token's room configuration
		// asks for a room composite egress, as LiveKit's auto egress):
		// the call starts with this join.
		autoRecord = fresh && e.recorder != nil && (*livekit.RoomConfiguration)(g.RoomConfig).GetEgress().GetRoom() != nil
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		if !resume {
			p.Close(livekit.DisconnectReason_JOIN_FAILURE)
		}
		return
	}
	log.Info("participant connected", "sid", p.SID(), "resume", resume)
	conn := signal.NewConn(ws, e.cfg.MaxSignalMessageBytes)
	e.track(r, conn.Abort)
	defer e.untrack(r)
	go conn.WriteLoop()
	if !p.Attach(conn, resume) {
		conn.Close("participant closed")
	} else if autoRecord {
		e.recorder.Auto(roomName) // after the join answer: the room update follows it
	}
	if offer := jr.GetPublisherOffer(); offer != nil && !p.Deliver(conn, &livekit.SignalRequest{
		Message: &livekit.SignalRequest_Offer{Offer: offer},
	}) {
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
