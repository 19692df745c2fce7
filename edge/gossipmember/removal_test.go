package gossipmember_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/controlplane/gossipview"
	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/edge/gossipmember"
	"github.com/spacecast/spacecast/gossip"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// startGossip runs a gossip node of role on loopback until the test ends.
func startGossip(t *testing.T, id, role string, seeds []string) *gossip.Node {
	t.Helper()
	cfg := gossip.Default()
	cfg.NodeID, cfg.Role, cfg.Region = id, role, "eu"
	cfg.Profile = gossip.ProfileLocal
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Seeds = seeds
	pc, ln, err := gossip.Listen(cfg.BindAddr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := gossip.New(cfg, gossip.Deps{PacketConn: pc, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// TestRoomServiceRemovalRevokesClusterWide: a moderator's Remove made on
// the edge (the room page calls RoomService.RemoveParticipant with its own
// media token) is recorded as the same gossiped revocation as a REST
// removal, so the control plane (controlplane/gossipview, what its join
// endpoint asks) refuses the removed identity's older credentials and its
// user token, while a credential issued after the removal passes.
func TestRoomServiceRemovalRevokesClusterWide(t *testing.T) {
	cp := startGossip(t, "cp-1", gossip.RoleControlPlane, nil)
	en := startGossip(t, "edge-1", gossip.RoleEdge, []string{cp.Addr()})
	cpView, err := gossipview.New(cp, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	var ed *edge.Edge
	member, err := gossipmember.New(gossipmember.Deps{Node: en, Evict: func(room, identity string, before time.Time) int {
		return ed.Evict(room, identity, before)
	}})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := edge.DefaultConfig()
	cfg.PublicURL = "ws://" + sig.Addr().String()
	ed, err = edge.New(cfg, edge.Deps{Cluster: cl, UDP: udp, Signal: sig, Observer: member,
		Revoked: member.Revoked, Revoke: member.Revoke})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	edgeDone, memberDone := make(chan error, 1), make(chan error, 1)
	go func() { edgeDone <- ed.Run(ctx) }()
	go func() { memberDone <- member.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-edgeDone; <-memberDone })

	key, secret := cl.SigningSecret()
	mint := func(identity string, g *auth.VideoGrant) string {
		tok, err := auth.NewAccessToken(key, secret).SetIdentity(identity).SetValidFor(time.Minute).SetVideoGrant(g).ToJWT()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial(
		"ws://"+sig.Addr().String()+"/rtc?protocol=16&access_token="+mint("mallory", &auth.VideoGrant{RoomJoin: true, Room: "r"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, b, err := ws.ReadMessage(); err != nil || proto.Unmarshal(b, &livekit.SignalResponse{}) != nil {
		t.Fatalf("join: %v", err)
	}
	before := time.Now().Add(-time.Second) // mallory's session and link: older than the removal

	mod := mint("mod", &auth.VideoGrant{RoomJoin: true, Room: "r", RoomAdmin: true})
	req, _ := http.NewRequest(http.MethodPost, "http://"+sig.Addr().String()+"/twirp/livekit.RoomService/RemoveParticipant",
		strings.NewReader(`{"room":"r","identity":"mallory"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+mod)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("RemoveParticipant: HTTP %d", resp.StatusCode)
	}
	after := time.Now().Add(time.Second)

	deadline := time.Now().Add(10 * time.Second)
	for !cpView.ParticipantRevoked("r", "mallory", before, time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("the control plane never heard of the removal: mallory's session would bring her back")
		}
		time.Sleep(20 * time.Millisecond) // polling gossip
	}
	if !cpView.ParticipantRevoked("r", "mallory", time.Time{}, time.Now()) {
		t.Error("a user token (no issue time) of the removed identity is not refused")
	}
	if cpView.ParticipantRevoked("r", "mallory", after, time.Now()) {
		t.Error("a credential issued after the removal (a new invitation) is refused")
	}
	if cpView.ParticipantRevoked("other", "mallory", before, time.Now()) {
		t.Error("the removal bars another room")
	}
	if !member.Revoked("r", "mallory", before) {
		t.Error("the edge itself does not refuse mallory's old media token")
	}
}
