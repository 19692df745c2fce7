package edge

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"

	"github.com/spacecast/spacecast/edge/recorder"
	"github.com/spacecast/spacecast/internal/blob"
	"github.com/spacecast/spacecast/internal/occupancy"
)

// egressCall posts a JSON Egress request with token and returns the HTTP
// status and body.
func (f *fixture) egressCall(method, token, body string) (int, string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.httpURL+"/twirp/livekit.Egress/"+method, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// recordStates collects the recordings' states an edge reports.
type recordStates struct {
	mu  sync.Mutex
	all []occupancy.RecordState
}

func (r *recordStates) add(rs occupancy.RecordState) {
	r.mu.Lock()
	r.all = append(r.all, rs)
	r.mu.Unlock()
}

func (r *recordStates) has(room, state string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range r.all {
		if rs.Room == room && rs.State == state {
			return true
		}
	}
	return false
}

func recordingFixture(t *testing.T) (*fixture, *recordStates) {
	t.Helper()
	st, err := blob.NewLocal(blob.LocalConfig{Dir: t.TempDir()}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	states := &recordStates{}
	f := newFixture(t, fixtureOpts{recording: &RecordingDeps{
		Config: recorder.Config{Dir: t.TempDir(), EmptyGrace: time.Hour}, Store: st, Report: states.add,
	}})
	return f, states
}

func activeRecording(v bool) func(*livekit.SignalResponse) bool {
	return func(m *livekit.SignalResponse) bool {
		u := m.GetRoomUpdate()
		return u != nil && u.Room.ActiveRecording == v
	}
}

// TestEgressRecordsTheRoom: LiveKit's Egress service starts, lists and
// stops a room's recording for a token with roomRecord, and nobody else;
// the participants see the room's active_recording flag change.
func TestEgressRecordsTheRoom(t *testing.T) {
	f, states := recordingFixture(t)
	alice, _ := f.join("alice", "r", nil)
	rec := func(room string) string {
		return f.token("recorder", &auth.VideoGrant{RoomRecord: true, Room: room}, time.Minute)
	}
	admin := f.token("mod", &auth.VideoGrant{RoomJoin: true, RoomAdmin: true, Room: "r"}, time.Minute)
	for _, c := range []struct{ name, token string }{{"roomAdmin only", admin}, {"another room's recorder", rec("other")}} {
		if code, body := f.egressCall("StartRoomCompositeEgress", c.token, `{"room_name":"r"}`); code != http.StatusForbidden {
			t.Fatalf("%s: HTTP %d %s, want 403", c.name, code, body)
		}
	}
	if code, _ := f.egressCall("StartRoomCompositeEgress", rec("empty"), `{"room_name":"empty"}`); code != http.StatusNotFound {
		t.Fatalf("a room not on this edge: HTTP %d, want 404", code)
	}
	code, body := f.egressCall("StartRoomCompositeEgress", rec("r"), `{"room_name":"r"}`)
	if code != http.StatusOK {
		t.Fatalf("start: HTTP %d %s", code, body)
	}
	var info struct {
		EgressID string `json:"egress_id"`
		RoomName string `json:"room_name"`
		Status   string `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil || info.EgressID == "" || info.RoomName != "r" {
		t.Fatalf("start answered %s (%v)", body, err)
	}
	alice.expect("room flagged as recorded", activeRecording(true))
	if code, _ := f.egressCall("StartRoomCompositeEgress", rec("r"), `{"room_name":"r"}`); code != http.StatusConflict {
		t.Fatalf("second start: HTTP %d, want 409", code)
	}
	if code, body := f.egressCall("ListEgress", rec("r"), `{"room_name":"r"}`); code != http.StatusOK || !strings.Contains(body, info.EgressID) {
		t.Fatalf("list: HTTP %d %s", code, body)
	}
	if code, _ := f.egressCall("StopEgress", rec("other"), `{"egress_id":"`+info.EgressID+`"}`); code != http.StatusForbidden {
		t.Fatalf("stop by another room's recorder: HTTP %d, want 403", code)
	}
	if code, body := f.egressCall("StopEgress", rec("r"), `{"egress_id":"`+info.EgressID+`"}`); code != http.StatusOK {
		t.Fatalf("stop: HTTP %d %s", code, body)
	}
	alice.expect("room no longer flagged", activeRecording(false))
	deadline := time.Now().Add(10 * time.Second)
	for !states.has("r", occupancy.RecordFailed) { // nobody published: nothing to compose
		if time.Now().After(deadline) {
			t.Fatal("the recording's end was not reported")
		}
		time.Sleep(10 * time.Millisecond) // polling
	}
	if !states.has("r", occupancy.RecordRecording) {
		t.Fatal("the recording's start was not reported")
	}
}

// TestAutoRecording: a join whose token asks for a room composite egress
// (the room records automatically) starts the recording with the call.
func TestAutoRecording(t *testing.T) {
	f, states := recordingFixture(t)
	key, secret := f.cluster.SigningSecret()
	tok, err := auth.NewAccessToken(key, secret).SetIdentity("bob").SetValidFor(time.Minute).
		SetVideoGrant(joinGrant("auto")).
		SetRoomConfig(&livekit.RoomConfiguration{Egress: &livekit.RoomEgress{Room: &livekit.RoomCompositeEgressRequest{RoomName: "auto"}}}).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := f.dial("protocol=16&access_token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.read().GetJoin() == nil {
		t.Fatal("no join answer")
	}
	c.expect("room flagged as recorded", activeRecording(true))
	if !states.has("auto", occupancy.RecordRecording) {
		t.Fatal("the automatic recording was not reported")
	}
	// A second participant, with the same token's configuration, joins
	// the call: no second recording.
	tok2, _ := auth.NewAccessToken(key, secret).SetIdentity("carol").SetValidFor(time.Minute).SetVideoGrant(joinGrant("auto")).
		SetRoomConfig(&livekit.RoomConfiguration{Egress: &livekit.RoomEgress{Room: &livekit.RoomCompositeEgressRequest{RoomName: "auto"}}}).ToJWT()
	c2, _, err := f.dial("protocol=16&access_token=" + tok2)
	if err != nil {
		t.Fatal(err)
	}
	if j := c2.read().GetJoin(); j == nil || !j.Room.ActiveRecording {
		t.Fatal("the second participant's join answer does not show the recording")
	}
	states.mu.Lock()
	n := 0
	for _, rs := range states.all {
		if rs.State == occupancy.RecordRecording {
			n++
		}
	}
	states.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d recordings started, want 1", n)
	}
}

// TestEgressWithoutRecording: an edge that does not record says so.
func TestEgressWithoutRecording(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.join("alice", "r", nil)
	tok := f.token("recorder", &auth.VideoGrant{RoomRecord: true, Room: "r"}, time.Minute)
	if code, body := f.egressCall("StartRoomCompositeEgress", tok, `{"room_name":"r"}`); code != http.StatusServiceUnavailable {
		t.Fatalf("HTTP %d %s, want 503", code, body)
	}
}
