package ha

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func kid(t *testing.T, jwt string) string {
	t.Helper()
	h, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

// TestReplicasOnPostgres: two `spacecast controlplane` replicas on one
// PostgreSQL database, started at the same moment on the empty database,
// an edge reporting to either, and a webhook receiver. One truth: a link
// made on A joins through B, 200 concurrent redeemers over both have one
// winner, a signing key rotated through the store is used by both. Webhooks
// that lose nothing: the replica that is delivering call_started is killed
// with SIGKILL in the middle of the attempt (and of the call); the other
// replica delivers it, the call goes on and finishes, and the receiver,
// which drops event ids it has seen, has call_started and call_finished
// once each; the analytics of the surviving replica show the call.
func TestReplicasOnPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)
	rcv := w.receiver()
	aAddr, bAddr, edgeAddr := w.freePort(), w.freePort(), w.freePort()
	cfgA := w.controlPlaneConfig("a", aAddr, edgeAddr, "")
	cfgB := w.controlPlaneConfig("b", bAddr, edgeAddr, "")
	edgeCfg := w.write("edge.yaml", fmt.Sprintf(`log: {level: info}
edge:
  listen: %[1]s
  publicURL: ws://%[1]s
  nodeID: edge-1
  region: local
  rtc: {udpPort: 0, bindIP: 127.0.0.1}
  drainTimeout: 1s
turn: {enabled: false}
report:
  url: http://%[2]s
  urls: [http://%[3]s]   # any replica takes any batch
  snapshotInterval: 1s
  retryBackoff: 50ms
`, edgeAddr, aAddr, bAddr))

	// Both replicas start at once on an empty database: one applies the
	// migrations while the other waits for the advisory lock.
	a := w.start("a", aAddr, "controlplane", "--config", cfgA)
	b := w.start("b", bAddr, "controlplane", "--config", cfgB)
	w.start("edge", edgeAddr, "edge", "--config", edgeCfg)
	w.ready("http://" + aAddr + "/readyz")
	w.ready("http://" + bAddr + "/readyz")
	w.eventually("the edge listening", 30*time.Second, func() bool {
		c, err := net.Dial("tcp", edgeAddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	// The operator's API client, made with `spacecast admin` on the store.
	var client struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal(w.admin(cfgA, "client", "create", "--name", "ha", "--json"), &client); err != nil {
		t.Fatal(err)
	}
	clientCreds := map[string]string{"grant_type": "client_credentials", "client_id": client.ClientID, "client_secret": client.ClientSecret}
	clientTok := w.token(aAddr, clientCreds)
	if c := w.call(bAddr, "POST", "/users", clientTok, map[string]string{"email": "ops@example.com", "password": "correct horse battery", "username": "Ops"}, nil); c != 201 {
		t.Fatalf("create user through B with A's client token: %d", c)
	}
	userCreds := map[string]string{"grant_type": "password", "client_id": client.ClientID, "client_secret": client.ClientSecret,
		"username": "ops@example.com", "password": "correct horse battery"}
	userTok := w.token(bAddr, userCreds)
	var sp, rm struct{ ID, Alias string }
	if c := w.call(aAddr, "POST", "/spaces", userTok, map[string]any{"name": "HA", "isPublic": true}, &sp); c != 201 {
		t.Fatalf("create space: %d", c)
	}
	if c := w.call(bAddr, "POST", "/spaces/"+sp.ID+"/rooms", userTok, map[string]any{"name": "Room", "isPublic": true}, &rm); c != 201 {
		t.Fatalf("create room: %d", c)
	}
	var hook struct{ Secret string }
	if c := w.call(aAddr, "POST", "/spaces/"+sp.ID+"/webhook", userTok, map[string]any{"url": rcv.url}, &hook); c != 201 {
		t.Fatalf("create webhook: %d", c)
	}
	rcv.setSecret(hook.Secret)

	// One truth: a link made on A joins through B, once.
	link := func() string {
		var l struct{ AccessToken string }
		if c := w.call(aAddr, "POST", "/spaces/"+sp.ID+"/rooms/"+rm.ID+"/generate-access", userTok, map[string]any{"username": "guest", "role": "user"}, &l); c != 200 {
			t.Fatalf("generate-access: %d", c)
		}
		return l.AccessToken
	}
	tok := link()
	if c := w.call(bAddr, "POST", "/rooms/"+rm.Alias+"/join", "", map[string]any{"accessToken": tok}, nil); c != 200 {
		t.Fatalf("join through B with A's link: %d", c)
	}
	if c := w.call(aAddr, "POST", "/rooms/"+rm.Alias+"/join", "", map[string]any{"accessToken": tok}, nil); c != 410 {
		t.Fatalf("second join through A: %d, want 410", c)
	}
	// 200 concurrent redeemers of one link, half on each replica.
	tok = link()
	const redeemers = 200
	codes := make([]int, redeemers)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range redeemers {
		wg.Go(func() {
			<-gate
			base := aAddr
			if i%2 == 1 {
				base = bAddr
			}
			codes[i] = w.call(base, "POST", "/rooms/"+rm.Alias+"/join", "", map[string]any{"accessToken": tok}, nil)
		})
	}
	close(gate)
	wg.Wait()
	won, gone := 0, 0
	for _, c := range codes {
		switch c {
		case 200:
			won++
		case 410:
			gone++
		}
	}
	if won != 1 || gone != redeemers-1 {
		t.Fatalf("%d redeemers over two replicas: %d won, %d got 410", redeemers, won, gone)
	}

	// A signing key rotated through the store signs on both replicas.
	old := kid(t, userTok)
	w.admin(cfgA, "key", "rotate", "--grace", "1h")
	took := w.eventually("both replicas sign with the new key", 5*time.Second, func() bool {
		ka, kb := kid(t, w.token(aAddr, clientCreds)), kid(t, w.token(bAddr, clientCreds))
		return ka != old && ka == kb
	})
	t.Logf("a key rotated through the store signs on both replicas after %s", took.Round(time.Millisecond))
	for _, base := range []string{aAddr, bAddr} {
		if c := w.call(base, "GET", "/users/me", userTok, nil, nil); c != 200 {
			t.Fatalf("a token of the old key on %s: %d", base, c)
		}
	}

	// The call. call_started is held at the receiver: the replica sending
	// it is found by the connection's port and killed mid-attempt.
	rcv.holdNext("call_started")
	join := func(name string) *participant {
		var ans struct {
			MediaToken string `json:"mediaToken"`
		}
		if c := w.call(bAddr, "POST", "/rooms/"+rm.Alias+"/join", "", map[string]any{"participantName": name}, &ans); c != 200 {
			t.Fatalf("guest join: %d", c)
		}
		return w.connect(edgeAddr, ans.MediaToken)
	}
	ann, bob := join("Ann"), join("Bob")
	var held heldRequest
	select {
	case held = <-rcv.held:
	case <-time.After(30 * time.Second):
		t.Fatal("call_started never arrived")
	}
	victim, err := ownerOf(held.remotePort, a, b)
	if err != nil {
		t.Fatal(err)
	}
	survivor := a
	if victim == a {
		survivor = b
	}
	w.kill9(victim)
	rcv.releaseAll()
	t.Logf("killed replica %s in the middle of delivering call_started %s", victim.name, held.eventID)
	ann.leave()
	time.Sleep(500 * time.Millisecond) // the call goes on with Bob
	bob.leave()
	took = w.eventually("call_started and call_finished at the receiver", 90*time.Second, func() bool {
		return len(rcv.got()) >= 2
	})
	t.Logf("both events delivered %s after the participants left", took.Round(time.Millisecond))
	time.Sleep(3 * time.Second) // would anything more arrive?
	if got := rcv.got(); !slices.Equal(got, []string{"call_started", "call_finished"}) {
		t.Fatalf("the receiver has %v, want call_started and call_finished once each", got)
	}
	rcv.mu.Lock()
	if !slices.Contains(rcv.order, held.eventID) {
		t.Errorf("the event the dead replica was sending (%s) is not the one delivered", held.eventID)
	}
	rcv.mu.Unlock()

	// The surviving replica's analytics show the call.
	var calls struct {
		Items []struct {
			ID                                                                                       string
			Active                                                                                   bool
			RoomID                                                                                   string
			ParticipantsCount, MaxParticipantsCount, TotalParticipantsCount, UniqueParticipantsCount int
		}
		Total int
	}
	if c := w.call(survivor.addr, "GET", "/spaces/"+sp.ID+"/analytics/calls?roomId="+rm.ID, userTok, nil, &calls); c != 200 {
		t.Fatalf("analytics: %d", c)
	}
	if calls.Total != 1 || calls.Items[0].Active || calls.Items[0].ParticipantsCount != 0 || calls.Items[0].MaxParticipantsCount != 2 ||
		calls.Items[0].TotalParticipantsCount != 2 || calls.Items[0].UniqueParticipantsCount != 2 {
		t.Fatalf("analytics %+v", calls)
	}
	var report struct {
		Participants []struct {
			Name   string
			LeftAt *time.Time
		}
	}
	if c := w.call(survivor.addr, "GET", "/spaces/"+sp.ID+"/analytics/report?callId="+calls.Items[0].ID, userTok, nil, &report); c != 200 {
		t.Fatalf("report: %d", c)
	}
	if len(report.Participants) != 2 || report.Participants[0].LeftAt == nil || report.Participants[1].LeftAt == nil {
		t.Fatalf("report %+v", report)
	}
	// The delivery log counts the attempt the dead replica made.
	var log struct {
		Items []struct {
			EventID, EventName, Status string
			Attempts                   int
		}
	}
	if c := w.call(survivor.addr, "GET", "/spaces/"+sp.ID+"/webhook/deliveries", userTok, nil, &log); c != 200 {
		t.Fatalf("delivery log: %d", c)
	}
	for _, d := range log.Items {
		if d.Status != "delivered" || (d.EventID == held.eventID && d.Attempts < 2) {
			t.Fatalf("delivery log %+v", log.Items)
		}
	}
}
