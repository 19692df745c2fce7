package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"
)

// hookReceiver is an integrator's webhook endpoint on 127.0.0.1:0.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// wait returns the n-th delivery (1-based), waiting up to 20 s.
func (r *hookReceiver) wait(t *testing.T, n int) []byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		if len(r.bodies) >= n {
			b := r.bodies[n-1]
			r.mu.Unlock()
			return b
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no delivery #%d", n)
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
}

// verifyDelivery checks a delivery as the docs tell integrators to: HMAC
// over the raw bytes of "body" with the webhook's secret.
func verifyDelivery(t *testing.T, secret string, payload []byte) map[string]string {
	t.Helper()
	var env struct {
		Signature string          `json:"signature"`
		Body      json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		t.Fatalf("delivery %s: %v", payload, err)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(env.Body)
	if !hmac.Equal([]byte(env.Signature), []byte(hex.EncodeToString(m.Sum(nil)))) {
		t.Fatalf("delivery %s: signature does not match", payload)
	}
	var body map[string]string
	if err := json.Unmarshal(env.Body, &body); err != nil {
		t.Fatal(err)
	}
	return body
}

// TestDevWebhookCall registers a webhook through the REST API, joins a
// room on dev's edge over the LiveKit signalling protocol, leaves, and
// expects call_started then call_finished, signed with the webhook's
// secret.
func TestDevWebhookCall(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the call-finish grace (5 s)")
	}
	data := t.TempDir()
	d := startDev(t, data)
	defer d.stop(t)
	rcv := newHookReceiver(t)

	var creds devClientCreds
	b, err := os.ReadFile(filepath.Join(data, devClientFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &creds); err != nil {
		t.Fatal(err)
	}
	api := d.api + "/v1"
	var tok, ut struct {
		AccessToken string `json:"access_token"`
	}
	if c := call(t, "POST", api+"/auth/token", "", map[string]string{"client_id": creds.ClientID, "client_secret": creds.ClientSecret, "grant_type": "client_credentials"}, &tok); c != 200 {
		t.Fatalf("client token: %d", c)
	}
	if c := call(t, "POST", api+"/users", tok.AccessToken, map[string]string{"email": "hook@example.com", "password": "correct horse battery", "username": "Hook"}, nil); c/100 != 2 {
		t.Fatalf("create user: %d", c)
	}
	if c := call(t, "POST", api+"/auth/token", "", map[string]string{"client_id": creds.ClientID, "client_secret": creds.ClientSecret, "grant_type": "password", "username": "hook@example.com", "password": "correct horse battery"}, &ut); c != 200 {
		t.Fatalf("user token: %d", c)
	}
	var space, room struct {
		ID string `json:"id"`
	}
	if c := call(t, "POST", api+"/spaces", ut.AccessToken, map[string]any{"name": "Hooks", "isPublic": false}, &space); c/100 != 2 {
		t.Fatalf("create space: %d", c)
	}
	if c := call(t, "POST", api+"/spaces/"+space.ID+"/rooms", ut.AccessToken, map[string]any{"name": "Call", "isPublic": false, "type": "lesson"}, &room); c/100 != 2 {
		t.Fatalf("create room: %d", c)
	}
	if c := call(t, "POST", api+"/spaces/"+space.ID+"/webhook", ut.AccessToken, map[string]any{"url": "ftp://127.0.0.1/hook"}, nil); c/100 != 4 {
		t.Fatalf("webhook with an ftp URL: %d, want 4xx", c)
	}
	var hook struct {
		URL      string `json:"url"`
		Secret   string `json:"secret"`
		IsActive bool   `json:"isActive"`
	}
	if c := call(t, "POST", api+"/spaces/"+space.ID+"/webhook", ut.AccessToken, map[string]any{"url": rcv.URL + "/hook"}, &hook); c != 201 || hook.Secret == "" || !hook.IsActive {
		t.Fatalf("create webhook: %d %+v", c, hook)
	}
	var link struct {
		URL string `json:"url"`
	}
	if c := call(t, "POST", api+"/spaces/"+space.ID+"/rooms/"+room.ID+"/generate-access", ut.AccessToken, map[string]any{"username": "Grace", "role": "user"}, &link); c/100 != 2 {
		t.Fatalf("generate-access: %d", c)
	}
	lu, err := url.Parse(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	var join struct {
		MediaToken string `json:"mediaToken"`
		Edge       struct {
			URL string `json:"url"`
		} `json:"edge"`
	}
	alias := strings.TrimPrefix(lu.Path, "/room/")
	if c := call(t, "POST", api+"/rooms/"+alias+"/join", "", map[string]string{"accessToken": lu.Query().Get("accessToken")}, &join); c != 200 {
		t.Fatalf("join: %d", c)
	}

	// Join the room on the edge as a LiveKit client does (signalling).
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, resp, err := dialer.Dial(join.Edge.URL+"/rtc?protocol=16&access_token="+url.QueryEscape(join.MediaToken), nil)
	if err != nil {
		t.Fatalf("edge signalling: %v (%v)", err, resp)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	first := &livekit.SignalResponse{}
	if err := proto.Unmarshal(msg, first); err != nil || first.GetJoin() == nil {
		t.Fatalf("first signalling message %v (%v), want join", first, err)
	}
	started := verifyDelivery(t, hook.Secret, rcv.wait(t, 1))
	want := map[string]string{"eventName": "call_started", "roomId": room.ID, "spaceId": space.ID}
	if !equalMaps(started, want) {
		t.Fatalf("first delivery %v, want %v", started, want)
	}

	leave, err := proto.Marshal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{Reason: livekit.DisconnectReason_CLIENT_INITIATED}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, leave); err != nil {
		t.Fatal(err)
	}
	finished := verifyDelivery(t, hook.Secret, rcv.wait(t, 2))
	want["eventName"] = "call_finished"
	if !equalMaps(finished, want) {
		t.Fatalf("second delivery %v, want %v", finished, want)
	}
	// The secret signs; it never travels with the delivery.
	if bytes.Contains(rcv.wait(t, 2), []byte(hook.Secret)) {
		t.Fatal("the delivery carries the secret")
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
