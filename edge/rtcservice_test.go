package edge

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/internal/requestid"
)

func TestValidateStatus(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	key, secret := f.cluster.SigningSecret()
	mint := func(k, s string, ttl time.Duration, g *auth.VideoGrant) string {
		tok, err := auth.NewAccessToken(k, s).SetIdentity("x").SetValidFor(ttl).SetVideoGrant(g).ToJWT()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := mint(key, secret, time.Minute, joinGrant("r"))
	tampered := good[:len(good)-4] + "AAAA"
	tests := []struct {
		name  string
		path  string
		token string
		want  int
	}{
		{"valid", "/rtc/validate", good, http.StatusOK},
		{"missing token", "/rtc/validate", "", http.StatusUnauthorized},
		{"garbage token", "/rtc/validate", "not-a-jwt", http.StatusUnauthorized},
		{"tampered signature", "/rtc/validate", tampered, http.StatusUnauthorized},
		{"expired", "/rtc/validate", expired(t, key, secret), http.StatusUnauthorized},
		{"foreign key", "/rtc/validate", mint("other", strings.Repeat("s", 40), time.Minute, joinGrant("r")), http.StatusUnauthorized},
		{"wrong secret for key", "/rtc/validate", mint(key, strings.Repeat("s", 40), time.Minute, joinGrant("r")), http.StatusUnauthorized},
		{"no roomJoin", "/rtc/validate", mint(key, secret, time.Minute, &auth.VideoGrant{Room: "r"}), http.StatusForbidden},
		{"no room", "/rtc/validate", mint(key, secret, time.Minute, &auth.VideoGrant{RoomJoin: true}), http.StatusForbidden},
		{"rtc without upgrade", "/rtc", good, http.StatusBadRequest},
		{"v1 without its join request", "/rtc/v1", good, http.StatusBadRequest},
		{"v1 validate", "/rtc/v1/validate", good, http.StatusOK},
		{"v1 validate, tampered", "/rtc/v1/validate", tampered, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.httpURL+tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("HTTP %d (%s), want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want != http.StatusOK && len(strings.TrimSpace(string(body))) == 0 {
				t.Fatal("error without a message")
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatal("no CORS header: a browser page on another origin could not read this")
			}
		})
	}
}

// expired mints a join token whose expiry passed ten minutes ago.
func expired(t *testing.T, key, secret string) string {
	past := time.Now().Add(-10 * time.Minute)
	claims := jwt.MapClaims{
		"iss": key, "sub": "x", "nbf": past.Add(-time.Hour).Unix(), "exp": past.Unix(),
		"video": map[string]any{"roomJoin": true, "room": "r"},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wsClient is a raw signalling client.
type wsClient struct {
	t  testing.TB
	ws *websocket.Conn
}

func (f *fixture) dial(query string) (*wsClient, *http.Response, error) {
	f.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(f.url+"/rtc?"+query, nil)
	if err != nil {
		return nil, resp, err
	}
	c := &wsClient{t: f.t, ws: ws}
	f.t.Cleanup(func() { _ = ws.Close() })
	return c, resp, nil
}

func (f *fixture) join(identity, room string, g *auth.VideoGrant) (*wsClient, *livekit.JoinResponse) {
	f.t.Helper()
	if g == nil {
		g = joinGrant(room)
	}
	c, _, err := f.dial("protocol=16&access_token=" + f.token(identity, g, time.Minute))
	if err != nil {
		f.t.Fatalf("dial: %v", err)
	}
	m := c.read()
	j := m.GetJoin()
	if j == nil {
		f.t.Fatalf("first message %T, want join", m.Message)
	}
	return c, j
}

func (c *wsClient) send(req *livekit.SignalRequest) {
	c.t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) read() *livekit.SignalResponse {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if typ != websocket.BinaryMessage {
		c.t.Fatalf("message type %d", typ)
	}
	m := &livekit.SignalResponse{}
	if err := proto.Unmarshal(b, m); err != nil {
		c.t.Fatal(err)
	}
	return m
}

// expect reads until a message matches (skipping updates, quality, trickle).
func (c *wsClient) expect(what string, ok func(*livekit.SignalResponse) bool) *livekit.SignalResponse {
	c.t.Helper()
	for i := 0; i < 50; i++ {
		if m := c.read(); ok(m) {
			return m
		}
	}
	c.t.Fatalf("no %s", what)
	return nil
}

// expectClosed checks the server closes the socket.
func (c *wsClient) expectClosed() {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				c.t.Fatal("socket still open")
			}
			return
		}
	}
}

func isLeave(reason livekit.DisconnectReason) func(*livekit.SignalResponse) bool {
	return func(m *livekit.SignalResponse) bool { return m.GetLeave() != nil && m.GetLeave().Reason == reason }
}

func TestJoinResponse(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	a, ja := f.join("alice", "r", nil)
	if ja.Participant.Identity != "alice" || ja.Room.Name != "r" || ja.ServerInfo.GetVersion() == "" || ja.PingInterval == 0 {
		t.Fatalf("join response %+v", ja)
	}
	_, jb := f.join("bob", "r", nil)
	if len(jb.OtherParticipants) != 1 || jb.OtherParticipants[0].Identity != "alice" {
		t.Fatalf("bob sees %+v", jb.OtherParticipants)
	}
	a.expect("bob's arrival", func(m *livekit.SignalResponse) bool {
		u := m.GetUpdate()
		return u != nil && len(u.Participants) == 1 && u.Participants[0].Identity == "bob"
	})
	// A hidden participant is not shown to others.
	yes := true
	_, jh := f.join("ghost", "r", &auth.VideoGrant{RoomJoin: true, Room: "r", Hidden: yes})
	if len(jh.OtherParticipants) != 2 {
		t.Fatalf("ghost sees %d", len(jh.OtherParticipants))
	}
	_, jc := f.join("carol", "r", nil)
	for _, p := range jc.OtherParticipants {
		if p.Identity == "ghost" {
			t.Fatal("hidden participant listed")
		}
	}
}

func TestSignalRequests(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	no := false
	c, j := f.join("alice", "r", &auth.VideoGrant{RoomJoin: true, Room: "r", CanPublish: &no})
	tests := []struct {
		name string
		req  *livekit.SignalRequest
		want func(*livekit.SignalResponse) bool
	}{
		{"ping", &livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: 42}},
			func(m *livekit.SignalResponse) bool { return m.GetPong() != 0 }},
		{"ping with rtt", &livekit.SignalRequest{Message: &livekit.SignalRequest_PingReq{PingReq: &livekit.Ping{Timestamp: 4242}}},
			func(m *livekit.SignalResponse) bool { return m.GetPongResp().GetLastPingTimestamp() == 4242 }},
		{"answer before offer", &livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{Type: "answer", Sdp: "v=0"}}},
			func(m *livekit.SignalResponse) bool {
				return m.GetRequestResponse().GetReason() == livekit.RequestResponse_INVALID_REQUEST
			}},
		{"garbage offer", &livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: "garbage"}}},
			func(m *livekit.SignalResponse) bool {
				return m.GetRequestResponse().GetReason() == livekit.RequestResponse_INVALID_REQUEST
			}},
		{"publish without permission", &livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{Cid: "c1", Type: livekit.TrackType_VIDEO}}},
			func(m *livekit.SignalResponse) bool {
				return m.GetRequestResponse().GetReason() == livekit.RequestResponse_NOT_ALLOWED
			}},
		{"subscribe to unknown track", &livekit.SignalRequest{Message: &livekit.SignalRequest_Subscription{Subscription: &livekit.UpdateSubscription{TrackSids: []string{"TR_nope"}, Subscribe: true}}},
			func(m *livekit.SignalResponse) bool {
				return m.GetSubscriptionResponse().GetErr() == livekit.SubscriptionError_SE_TRACK_NOTFOUND
			}},
		{"mute unknown track", &livekit.SignalRequest{Message: &livekit.SignalRequest_Mute{Mute: &livekit.MuteTrackRequest{Sid: "TR_nope", Muted: true}}},
			func(m *livekit.SignalResponse) bool {
				return m.GetRequestResponse().GetReason() == livekit.RequestResponse_NOT_FOUND
			}},
		{"metadata without permission", &livekit.SignalRequest{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: &livekit.UpdateParticipantMetadata{Metadata: "x", RequestId: 7}}},
			func(m *livekit.SignalResponse) bool {
				rr := m.GetRequestResponse()
				return rr.GetReason() == livekit.RequestResponse_NOT_ALLOWED && rr.GetRequestId() == 7
			}},
		{"trickle that is not JSON", &livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{CandidateInit: "{"}}},
			func(m *livekit.SignalResponse) bool {
				return m.GetRequestResponse().GetReason() == livekit.RequestResponse_INVALID_REQUEST
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.req)
			c.expect("response", tt.want)
		})
	}
	c.t = t
	if p := f.edge.Rooms().Room("r").Participant("alice"); p == nil || p.SID() != j.Participant.Sid {
		t.Fatal("participant gone after refused requests")
	}
}

func TestMetadataUpdate(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	yes := true
	a, _ := f.join("alice", "r", &auth.VideoGrant{RoomJoin: true, Room: "r", CanUpdateOwnMetadata: &yes})
	b, _ := f.join("bob", "r", nil)
	a.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: &livekit.UpdateParticipantMetadata{
		Metadata: "hello", Name: "Alice", Attributes: map[string]string{"k": "v"}, RequestId: 3,
	}}})
	a.expect("ok", func(m *livekit.SignalResponse) bool { return m.GetRequestResponse().GetRequestId() == 3 })
	b.expect("alice's update", func(m *livekit.SignalResponse) bool {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.Identity == "alice" && p.Metadata == "hello" && p.Name == "Alice" && p.Attributes["k"] == "v" {
				return true
			}
		}
		return false
	})
}

func TestBadMessagesCloseWithLeave(t *testing.T) {
	f := newFixture(t, fixtureOpts{mutate: func(c *Config) { c.MaxSignalMessageBytes = 8192 }})
	tests := []struct {
		name string
		typ  int
		msg  []byte
	}{
		{"oversized", websocket.BinaryMessage, make([]byte, 20000)},
		{"malformed protobuf", websocket.BinaryMessage, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"empty request", websocket.BinaryMessage, nil},
		{"malformed json", websocket.TextMessage, []byte("{not json")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "p" + string(rune('a'+i))
			c, _ := f.join(id, "bad", nil)
			c.t = t
			if err := c.ws.WriteMessage(tt.typ, tt.msg); err != nil {
				t.Fatal(err)
			}
			c.expect("leave", isLeave(livekit.DisconnectReason_STATE_MISMATCH))
			c.expectClosed()
			deadline := time.Now().Add(5 * time.Second)
			for r := f.edge.Rooms().Room("bad"); r != nil && r.Participant(id) != nil; {
				if time.Now().After(deadline) {
					t.Fatal("participant not removed")
				}
				time.Sleep(10 * time.Millisecond) // polling
			}
		})
	}
}

func TestLeaveAndEmptyRoom(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	c, _ := f.join("alice", "short", nil)
	c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{Reason: livekit.DisconnectReason_CLIENT_INITIATED}}})
	c.expectClosed()
	deadline := time.Now().Add(10 * time.Second)
	for f.edge.Rooms().Room("short") != nil { // emptyTimeout is 1s in fixtures
		if time.Now().After(deadline) {
			t.Fatal("empty room not closed")
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
}

func TestMaxParticipants(t *testing.T) {
	f := newFixture(t, fixtureOpts{mutate: func(c *Config) { c.Room.MaxParticipants = 1 }})
	f.join("alice", "small", nil)
	_, resp, err := f.dial("access_token=" + f.token("bob", joinGrant("small"), time.Minute))
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("second join: %v, %v; want HTTP 403", resp, err)
	}
	// The same identity replaces rather than counts.
	f.join("alice", "small", nil)
}

func TestDuplicateIdentityLeave(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	first, _ := f.join("alice", "r", nil)
	f.join("alice", "r", nil)
	first.expect("leave", isLeave(livekit.DisconnectReason_DUPLICATE_IDENTITY))
	first.expectClosed()
}

func TestResume(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	c, j := f.join("alice", "r", nil)
	sid := j.Participant.Sid
	_ = c.ws.Close() // network drop: no LeaveRequest
	tok := f.token("alice", joinGrant("r"), time.Minute)
	c2, _, err := f.dial("reconnect=1&sid=" + sid + "&access_token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	if m := c2.read(); m.GetReconnect() == nil {
		t.Fatalf("first message on resume: %T", m.Message)
	}
	if p := f.edge.Rooms().Room("r").Participant("alice"); p == nil || p.SID() != sid {
		t.Fatal("resumed participant has a new sid")
	}
	// An unknown session is told to rejoin.
	c3, _, err := f.dial("reconnect=1&sid=PA_unknown&access_token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	m := c3.read()
	if m.GetLeave().GetAction() != livekit.LeaveRequest_RECONNECT {
		t.Fatalf("unknown sid: %v, want a RECONNECT leave", m)
	}
	// After the departure timeout the participant is gone.
	_ = c2.ws.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := f.edge.Rooms().Room("r")
		if r == nil || r.Participant("alice") == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("participant not removed after the departure timeout")
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
}

func TestPublishSources(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	c, _ := f.join("alice", "r", &auth.VideoGrant{RoomJoin: true, Room: "r", CanPublishSources: []string{"camera", "microphone"}})
	tests := []struct {
		name   string
		source livekit.TrackSource
		typ    livekit.TrackType
		ok     bool
	}{
		{"camera allowed", livekit.TrackSource_CAMERA, livekit.TrackType_VIDEO, true},
		{"microphone allowed", livekit.TrackSource_MICROPHONE, livekit.TrackType_AUDIO, true},
		{"screen share refused", livekit.TrackSource_SCREEN_SHARE, livekit.TrackType_VIDEO, false},
		{"screen share audio refused", livekit.TrackSource_SCREEN_SHARE_AUDIO, livekit.TrackType_AUDIO, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			cid := "cid" + string(rune('a'+i))
			c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{Cid: cid, Type: tt.typ, Source: tt.source}}})
			m := c.expect("answer to AddTrack", func(m *livekit.SignalResponse) bool {
				return m.GetTrackPublished() != nil || m.GetRequestResponse() != nil
			})
			if got := m.GetTrackPublished().GetCid() == cid; got != tt.ok {
				t.Fatalf("published=%v (%v), want %v", got, m, tt.ok)
			}
			if !tt.ok && m.GetRequestResponse().GetReason() != livekit.RequestResponse_NOT_ALLOWED {
				t.Fatalf("refusal %v", m)
			}
		})
	}
}

func TestRoomServiceDeleteAndAuth(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	c, _ := f.join("alice", "doomed", nil)
	key, secret := f.cluster.SigningSecret()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A participant's own join token is not a moderator's.
	joinOnly := f.token("alice", joinGrant("doomed"), time.Minute)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.httpURL+"/twirp/livekit.RoomService/ListParticipants", strings.NewReader(`{"room":"doomed"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+joinOnly)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("ListParticipants with a join token: HTTP %d, want 403", resp.StatusCode)
	}

	// A moderator's join token (roomJoin + roomAdmin for this room) is.
	mod := f.token("mod", &auth.VideoGrant{RoomJoin: true, Room: "doomed", RoomAdmin: true}, time.Minute)
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, f.httpURL+"/twirp/livekit.RoomService/ListParticipants", strings.NewReader(`{"room":"doomed"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+mod)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"alice"`) {
		t.Fatalf("ListParticipants with a moderator token: HTTP %d %s", resp.StatusCode, body)
	}

	rs := lksdk.NewRoomServiceClient(f.httpURL, key, secret)
	rooms, err := rs.ListRooms(ctx, &livekit.ListRoomsRequest{})
	if err != nil || len(rooms.Rooms) != 1 || rooms.Rooms[0].Name != "doomed" || rooms.Rooms[0].NumParticipants != 1 {
		t.Fatalf("ListRooms = %v, %v", rooms, err)
	}
	if _, err := rs.SendData(ctx, &livekit.SendDataRequest{Room: "doomed", Data: []byte("x"), Kind: livekit.DataPacket_RELIABLE}); err != nil {
		t.Fatalf("SendData: %v", err)
	}
	// UpdateSubscriptions reaches the participant (a track it does not
	// know is ignored, as in its own subscription updates); an unknown
	// participant is NotFound.
	if _, err := rs.UpdateSubscriptions(ctx, &livekit.UpdateSubscriptionsRequest{Room: "doomed", Identity: "alice", TrackSids: []string{"TR_none"}, Subscribe: false}); err != nil {
		t.Fatalf("UpdateSubscriptions: %v", err)
	}
	if _, err := rs.UpdateSubscriptions(ctx, &livekit.UpdateSubscriptionsRequest{Room: "doomed", Identity: "nobody", Subscribe: true}); err == nil || !strings.Contains(err.Error(), "not") {
		t.Fatalf("UpdateSubscriptions for an unknown participant: %v", err)
	}
	if _, err := rs.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: "doomed"}); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	c.expect("leave", isLeave(livekit.DisconnectReason_ROOM_DELETED))
	c.expectClosed()
}

func TestCORSPreflight(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodOptions, f.httpURL+"/twirp/livekit.RoomService/ListRooms", nil)
	req.Header.Set("Origin", "http://page.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: HTTP %d, headers %v", resp.StatusCode, resp.Header)
	}
}

// TestRoomMaxParticipantsFromToken: the room's own limit travels in the
// media token's room configuration (the control plane's maxParticipants
// room flag) and holds for every join of the room, whatever the edge's
// default; the same identity still replaces rather than counts.
func TestRoomMaxParticipantsFromToken(t *testing.T) {
	f := newFixture(t, fixtureOpts{}) // the edge's default: 1000
	key, secret := f.cluster.SigningSecret()
	mint := func(identity string, max uint32) string {
		at := auth.NewAccessToken(key, secret).SetIdentity(identity).SetValidFor(time.Minute).SetVideoGrant(joinGrant("small"))
		if max > 0 {
			at.SetRoomConfig(&livekit.RoomConfiguration{MaxParticipants: max})
		}
		tok, err := at.ToJWT()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, id := range []string{"alice", "bob"} {
		if _, _, err := f.dial("protocol=16&access_token=" + mint(id, 2)); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	for _, tt := range []struct {
		name  string
		token string
	}{
		{"third with the room's limit", mint("carol", 2)},
		{"third with a token that says nothing", mint("dave", 0)},
	} {
		if _, resp, err := f.dial("protocol=16&access_token=" + tt.token); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: %v; want HTTP 403", tt.name, err)
		}
	}
	if _, _, err := f.dial("protocol=16&access_token=" + mint("alice", 2)); err != nil {
		t.Fatalf("alice again (replacement): %v", err)
	}
	if got := f.edge.Rooms().Room("small").Proto().MaxParticipants; got != 2 {
		t.Fatalf("room reports maxParticipants %d, want 2", got)
	}
}

// TestJoinLogsRequestID: the edge logs a participant's connection with the
// request id of the control-plane join that minted its token (the rid
// claim), so that an operator finds the edge's lines of a join from its
// access-log line.
func TestJoinLogsRequestID(t *testing.T) {
	var buf lockedBuffer
	f := newFixture(t, fixtureOpts{logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	key, secret := f.cluster.SigningSecret()
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": key, "sub": "ann", "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Minute).Unix(),
		"video": map[string]any{"roomJoin": true, "room": "r1"}, requestid.Claim: "join-7f3a",
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := f.dial("protocol=16&access_token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.read().GetJoin() == nil {
		t.Fatal("no join response")
	}
	var line map[string]any
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, `"participant connected"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line["request_id"] != "join-7f3a" || line["room"] != "r1" || line["participant"] != "ann" || line["sid"] == "" {
		t.Fatalf("connection log line %v; want room r1, participant ann, its sid and request id join-7f3a\n%s", line, buf.String())
	}
}
