package controlplane

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/edge/room"
)

// realEdge is an edge on 127.0.0.1:0 (signalling over HTTP, ICE on a
// loopback UDP socket) sharing the control plane's cluster secrets.
type realEdge struct {
	url string // ws://127.0.0.1:port
	ln  net.Listener
	// recording, when set, lets the edge record (set before serve).
	recording *edge.RecordingDeps
	// observer, when set, hears the edge's rooms (its reports).
	observer room.Observer
}

func listenEdge(t *testing.T) *realEdge {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &realEdge{url: "ws://" + ln.Addr().String(), ln: ln}
}

func (re *realEdge) placer() placement.Placer {
	return placement.Static{Edge: placement.Placement{NodeID: "edge-t", Region: "local", SignalURL: re.url}}
}

// serve runs the edge until the test ends.
func (re *realEdge) serve(t *testing.T, e *env) {
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := edge.DefaultConfig()
	cfg.PublicURL, cfg.NodeID = re.url, "edge-t"
	ed, err := edge.New(cfg, edge.Deps{Cluster: e.cluster, UDP: udp, Recording: re.recording, Observer: re.observer})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hs := &http.Server{Handler: ed.Handler(), ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = ed.Run(ctx) }()
	go func() { defer wg.Done(); _ = hs.Serve(re.ln) }()
	t.Cleanup(func() {
		cancel()
		_ = hs.Close()
		wg.Wait()
		_ = ed.Close()
	})
}

// signal is a raw LiveKit signalling client.
type signal struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialSignal(t *testing.T, base, token string) (*signal, *livekit.JoinResponse) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(base+"/rtc?protocol=16&auto_subscribe=0&access_token="+url.QueryEscape(token), nil)
	if err != nil {
		t.Fatalf("dial the edge: %v", err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	s := &signal{t: t, ws: ws}
	m, err := s.read()
	if err != nil || m.GetJoin() == nil {
		t.Fatalf("first signal message %v (%v), want a join", m, err)
	}
	return s, m.GetJoin()
}

func (s *signal) read() (*livekit.SignalResponse, error) {
	_ = s.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := s.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	m := &livekit.SignalResponse{}
	return m, proto.Unmarshal(b, m)
}

// expectRemoved reads until the edge says leave or closes the socket.
func (s *signal) expectRemoved() {
	s.t.Helper()
	for {
		m, err := s.read()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				s.t.Fatal("still connected after the removal")
			}
			return
		}
		if m.GetLeave() != nil {
			return
		}
	}
}

// TestModerationRealEdge: a participant joins through the control plane
// and connects to a real edge; the room's owner lists, mutes and removes
// it through REST; the removed participant's session is refused.
func TestModerationRealEdge(t *testing.T) {
	re := listenEdge(t)
	e := start(t, envOpts{placer: re.placer()})
	re.serve(t, e)
	w := e.buildWorld(t, "alpha")
	base := "/v1/spaces/" + w.space + "/rooms/" + w.room + "/participants"

	// Nobody in the call yet.
	if l := e.must(t, 200, "GET", base, w.owner.userToken, nil).json(t); l["total"].(float64) != 0 {
		t.Fatalf("empty room lists %v", l)
	}
	link := e.must(t, 200, "POST", "/v1/spaces/"+w.space+"/rooms/"+w.room+"/generate-access", w.owner.userToken,
		map[string]any{"username": "Bob", "role": "user"}).str(t, "accessToken")
	ans := e.must(t, 200, "POST", "/v1/rooms/"+w.alias+"/join", "", map[string]any{"accessToken": link}).json(t)
	bob := ans["identity"].(string)
	sess := ans["session"].(map[string]any)["token"].(string)
	if ans["edge"].(map[string]any)["url"] != re.url {
		t.Fatalf("edge %v, want %s", ans["edge"], re.url)
	}
	sig, _ := dialSignal(t, re.url, ans["mediaToken"].(string))

	l := e.must(t, 200, "GET", base, w.owner.userToken, nil).json(t)
	items := l["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["identity"] != bob || items[0].(map[string]any)["nodeId"] != "edge-t" {
		t.Fatalf("participants = %v, want %s on edge-t", l, bob)
	}
	who := base + "/" + url.PathEscape(bob)
	for _, tt := range []struct {
		name, method, path, token string
		body                      any
		want                      int
		code                      string
	}{
		{"a room user may not list", "GET", base, w.member.userToken, nil, 403, "forbidden"},
		{"a room user may not remove", "POST", who + "/remove", w.member.userToken, nil, 403, "forbidden"},
		{"a client token may not mute", "POST", who + "/mute", w.owner.clientToken, map[string]any{"source": "camera", "muted": true}, 403, "user_token_required"},
		{"no track of that source", "POST", who + "/mute", w.owner.userToken, map[string]any{"source": "camera", "muted": true}, 404, "track_not_found"},
		{"unknown participant", "POST", base + "/nobody/mute", w.owner.userToken, map[string]any{"source": "camera", "muted": true}, 404, "not_found"},
		{"muted missing", "POST", who + "/mute", w.owner.userToken, map[string]any{"source": "camera"}, 422, "missing_field"},
		{"unknown source", "POST", who + "/mute", w.owner.userToken, map[string]any{"source": "radio", "muted": true}, 422, "invalid_enum"},
		{"both track and source", "POST", who + "/mute", w.owner.userToken, map[string]any{"source": "camera", "trackSid": "TR_x", "muted": true}, 422, "invalid_value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.token, tt.body)
			if r.status != tt.want || r.str(t, "code") != tt.code {
				t.Fatalf("%s %s = %d %s, want %d %s", tt.method, tt.path, r.status, r.body, tt.want, tt.code)
			}
		})
	}

	rm := e.must(t, 200, "POST", who+"/remove", w.owner.userToken, nil).json(t)
	if rm["connected"] != true || rm["identity"] != bob {
		t.Fatalf("remove = %v", rm)
	}
	sig.expectRemoved()
	if l := e.must(t, 200, "GET", base, w.owner.userToken, nil).json(t); l["total"].(float64) != 0 {
		t.Fatalf("after the removal: %v", l)
	}
	// The session from before the removal no longer gets a media token.
	r := e.do(t, "POST", "/v1/rooms/"+w.alias+"/join", "", map[string]any{"sessionToken": sess})
	if r.status != 403 || r.str(t, "code") != "participant_removed" {
		t.Fatalf("rejoin with the old session = %d %s", r.status, r.body)
	}
	// Removing someone not connected records the removal and says so.
	if rm := e.must(t, 200, "POST", who+"/remove", w.owner.userToken, nil).json(t); rm["connected"] != false {
		t.Fatalf("second remove = %v", rm)
	}
	// A new link (issued after the removal) lets a participant in again.
	link2 := e.must(t, 200, "POST", "/v1/spaces/"+w.space+"/rooms/"+w.room+"/generate-access", w.owner.userToken,
		map[string]any{"username": "Bob", "role": "user"}).str(t, "accessToken")
	e.must(t, 200, "POST", "/v1/rooms/"+w.alias+"/join", "", map[string]any{"accessToken": link2})
}

// fakeRooms is a Twirp RoomService that records mute calls and checks the
// control plane's admin token.
type fakeRooms struct {
	livekit.RoomService // methods not overridden panic: not called
	mu                  sync.Mutex
	muted               []*livekit.MuteRoomTrackRequest
}

func (f *fakeRooms) GetParticipant(ctx context.Context, q *livekit.RoomParticipantIdentity) (*livekit.ParticipantInfo, error) {
	if q.Identity != "alice" {
		return nil, twirp.NotFoundError("no such participant")
	}
	return &livekit.ParticipantInfo{Identity: "alice", Sid: "PA_a", Tracks: []*livekit.TrackInfo{
		{Sid: "TR_cam", Type: livekit.TrackType_VIDEO, Source: livekit.TrackSource_CAMERA},
		{Sid: "TR_mic", Type: livekit.TrackType_AUDIO, Source: livekit.TrackSource_MICROPHONE},
	}}, nil
}

func (f *fakeRooms) MutePublishedTrack(ctx context.Context, q *livekit.MuteRoomTrackRequest) (*livekit.MuteRoomTrackResponse, error) {
	f.mu.Lock()
	f.muted = append(f.muted, proto.Clone(q).(*livekit.MuteRoomTrackRequest))
	f.mu.Unlock()
	src := livekit.TrackSource_CAMERA
	if q.TrackSid == "TR_mic" {
		src = livekit.TrackSource_MICROPHONE
	}
	return &livekit.MuteRoomTrackResponse{Track: &livekit.TrackInfo{Sid: q.TrackSid, Source: src, Muted: q.Muted}}, nil
}

func (f *fakeRooms) RemoveParticipant(ctx context.Context, q *livekit.RoomParticipantIdentity) (*livekit.RemoveParticipantResponse, error) {
	return nil, twirp.NotFoundError("not connected")
}

// TestModerationMuteCalls: the Twirp calls a mute makes, and the token
// they carry (roomAdmin for that room only, signed with the cluster key).
func TestModerationMuteCalls(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRooms{}
	var authz sync.Map // room → Authorization header seen
	srv := livekit.NewRoomServiceServer(f)
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz.Store(r.URL.Path, r.Header.Get("Authorization"))
		srv.ServeHTTP(w, r)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close(); <-done })

	pl := placement.Static{Edge: placement.Placement{NodeID: "fake", SignalURL: "ws://" + ln.Addr().String()}}
	e := start(t, envOpts{placer: pl})
	w := e.buildWorld(t, "alpha")
	base := "/v1/spaces/" + w.space + "/rooms/" + w.room + "/participants/alice/mute"

	for _, tt := range []struct {
		name  string
		body  map[string]any
		want  int
		calls []string // track sids muted
	}{
		{"by source", map[string]any{"source": "microphone", "muted": true}, 200, []string{"TR_mic"}},
		{"by track", map[string]any{"trackSid": "TR_cam", "muted": false}, 200, []string{"TR_cam"}},
		{"unknown track", map[string]any{"trackSid": "TR_nope", "muted": true}, 404, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.muted = nil
			f.mu.Unlock()
			r := e.do(t, "POST", base, w.owner.userToken, tt.body)
			if r.status != tt.want {
				t.Fatalf("mute = %d %s", r.status, r.body)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			var got []string
			for _, q := range f.muted {
				if q.Room != w.room || q.Identity != "alice" || q.Muted != tt.body["muted"] {
					t.Fatalf("mute request %v", q)
				}
				got = append(got, q.TrackSid)
			}
			if strings.Join(got, ",") != strings.Join(tt.calls, ",") {
				t.Fatalf("muted %v, want %v", got, tt.calls)
			}
			if tt.want == 200 {
				tr := r.json(t)["tracks"].([]any)[0].(map[string]any)
				if tr["sid"] != tt.calls[0] || tr["muted"] != tt.body["muted"] {
					t.Fatalf("answer %s", r.body)
				}
			}
		})
	}
	// A removed user stays out even with a fresh user token (for the
	// session TTL); another user still joins.
	e.must(t, 200, "POST", "/v1/rooms/"+w.alias+"/join", w.member.userToken, nil)
	if rm := e.must(t, 200, "POST", "/v1/spaces/"+w.space+"/rooms/"+w.room+"/participants/u_"+w.member.userID+"/remove", w.owner.userToken, nil).json(t); rm["connected"] != false {
		t.Fatalf("remove = %v", rm)
	}
	if r := e.do(t, "POST", "/v1/rooms/"+w.alias+"/join", w.member.userToken, nil); r.status != 403 || r.str(t, "code") != "participant_removed" {
		t.Fatalf("removed user's join = %d %s", r.status, r.body)
	}
	e.must(t, 200, "POST", "/v1/rooms/"+w.alias+"/join", w.owner.userToken, nil)

	// The token: roomAdmin for this room only, signed with the cluster key.
	h, _ := authz.Load("/twirp/livekit.RoomService/MutePublishedTrack")
	raw, _ := strings.CutPrefix(h.(string), "Bearer ")
	v, err := lkauth.ParseAPIToken(raw)
	if err != nil {
		t.Fatal(err)
	}
	key, secret := e.cluster.SigningSecret()
	if v.APIKey() != key {
		t.Fatalf("api key %s", v.APIKey())
	}
	_, g, err := v.Verify(secret)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Video.RoomAdmin || g.Video.Room != w.room || g.Video.RoomJoin {
		t.Fatalf("grants %+v", g.Video)
	}
}

// TestModerationEdgeDown: an edge that does not answer is 502
// edge_unavailable, not an empty list.
func TestModerationEdgeDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	e := start(t, envOpts{placer: placement.Static{Edge: placement.Placement{NodeID: "gone", SignalURL: "ws://" + addr}}})
	w := e.buildWorld(t, "alpha")
	base := "/v1/spaces/" + w.space + "/rooms/" + w.room + "/participants"
	for _, c := range []struct{ method, path string }{{"GET", base}, {"POST", base + "/u_x/remove"}} {
		if r := e.do(t, c.method, c.path, w.owner.userToken, nil); r.status != 502 || r.str(t, "code") != "edge_unavailable" {
			t.Fatalf("%s %s with the edge down = %d %s", c.method, c.path, r.status, r.body)
		}
	}
}
