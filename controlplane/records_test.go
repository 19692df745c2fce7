package controlplane

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/webhook"
	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/edge/recorder"
	"github.com/spacecast/spacecast/edge/reporter"
	"github.com/spacecast/spacecast/internal/blob"
)

// clock is a wall clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// recordingEdge serves a real edge that records into a local store and
// reports to e's store (as the edge-events endpoint would).
func recordingEdge(t *testing.T, e *env, re *realEdge) {
	t.Helper()
	st, err := blob.NewLocal(blob.LocalConfig{Dir: t.TempDir()}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	calls, err := webhook.NewCalls(webhook.DefaultCallsConfig(), e.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := reporter.New(reporter.Config{Node: "edge-t"}, reporter.Deps{Sink: calls})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rep.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	re.observer = rep
	re.recording = &edge.RecordingDeps{Config: recorder.Config{Dir: t.TempDir(), EmptyGrace: time.Hour}, Store: st, Report: rep.RecordChanged}
	re.serve(t, e)
}

// TestRecordsREST: a moderator or the room's client starts and stops the
// recording of a live call on its edge, in a room that allows it; the
// participants see it; the list follows the recording to its end (here
// failed: nobody published); download links are refused until there is
// a file, then serve its bytes until they expire.
func TestRecordsREST(t *testing.T) {
	re := listenEdge(t)
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	key := bytes.Repeat([]byte("k"), 32)
	var files *blob.Local
	e := start(t, envOpts{placer: re.placer(), storage: func(public string) *blob.Local {
		l, err := blob.NewLocal(blob.LocalConfig{Dir: t.TempDir(), BaseURL: public + "/files"}, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		l.SetClock(clk.now)
		files = l
		return l
	}})
	recordingEdge(t, e, re)
	w := e.buildWorld(t, "alpha")
	rooms := "/v1/spaces/" + w.space + "/rooms/"
	e.must(t, 200, "PUT", rooms+w.room, w.owner.userToken, map[string]any{"isRecordAllowed": true})
	plain := e.must(t, 201, "POST", "/v1/spaces/"+w.space+"/rooms", w.owner.userToken, map[string]any{"name": "no recording", "isPublic": true}).str(t, "id")
	base := rooms + w.room + "/records"
	stranger := e.newUser(t, e.newClient(t, "beta"), "x@beta.test")
	participant := e.newUser(t, tenantOf(w.owner), "p@alpha.test")

	expect := func(method, path, token string, body any, want int, code string) reply {
		t.Helper()
		r := e.do(t, method, path, token, body)
		if r.status != want || (code != "" && r.str(t, "code") != code) {
			t.Fatalf("%s %s = %d %s, want %d %s", method, path, r.status, r.body, want, code)
		}
		return r
	}
	expect("POST", base+"/start", w.owner.userToken, nil, 409, "no_call")
	expect("POST", rooms+plain+"/records/start", w.owner.userToken, nil, 403, "recording_not_allowed")

	ans := e.must(t, 200, "POST", "/v1/rooms/"+w.alias+"/join", w.owner.userToken, map[string]any{}).json(t)
	if ans["grants"].(map[string]any)["canRecord"] != true {
		t.Fatalf("the owner's grants in a room that records: %v", ans["grants"])
	}
	sig, _ := dialSignal(t, re.url, ans["mediaToken"].(string))
	expect("POST", base+"/start", participant.userToken, nil, 403, "forbidden")
	expect("POST", base+"/start", stranger.clientToken, nil, 404, "not_found")
	rec := expect("POST", base+"/start", w.owner.clientToken, nil, 200, "").json(t)
	id, _ := rec["id"].(string)
	if rec["state"] != "recording" || len(id) != 24 || rec["roomId"] != w.room || rec["callId"] == "" {
		t.Fatalf("started %v", rec)
	}
	for {
		m, err := sig.read()
		if err != nil {
			t.Fatalf("no room update: %v", err)
		}
		if u := m.GetRoomUpdate(); u != nil && u.Room.ActiveRecording {
			break
		}
	}
	expect("POST", base+"/start", w.owner.userToken, nil, 409, "already_recording")
	l := expect("GET", base, w.owner.userToken, nil, 200, "").json(t)
	if l["total"].(float64) != 1 || l["items"].([]any)[0].(map[string]any)["id"] != id {
		t.Fatalf("list %v", l)
	}
	expect("GET", base+"/download/"+id, w.owner.userToken, nil, 409, "record_not_ready")
	expect("POST", base+"/stop", w.owner.userToken, map[string]any{"recordId": "000000000000000000000000"}, 409, "not_recording")
	expect("POST", base+"/stop", w.owner.userToken, nil, 200, "")
	expect("POST", base+"/stop", w.owner.userToken, nil, 409, "not_recording")
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := e.must(t, 200, "GET", base, w.owner.userToken, nil).json(t)["items"].([]any)[0].(map[string]any)
		if r["state"] == "failed" {
			if !strings.Contains(r["error"].(string), "nothing recorded") || r["finishedAt"] == nil {
				t.Fatalf("failed recording %v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recording did not end: %v", r)
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
	var events []string
	d, _, err := e.st.ListWebhookDeliveries(context.Background(), store.ClientID(w.owner.clientID), store.SpaceID(w.space), store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range d {
		if x.Event.RecordID == id {
			events = append([]string{x.Event.Name}, events...)
		}
	}
	if strings.Join(events, " ") != "record_started record_failed" {
		t.Fatalf("record events %v", events)
	}
	if l := e.must(t, 200, "GET", base+"?dateFrom=2000-01-01&dateTo=2000-01-02", w.owner.userToken, nil).json(t); l["total"].(float64) != 0 {
		t.Fatalf("dates outside: %v", l)
	}
	expect("GET", base+"?dateFrom=yesterday", w.owner.userToken, nil, 400, "invalid_query")

	// A finished recording with its file: the link serves its bytes to
	// anyone, without a token, for 24 h.
	body := bytes.Repeat([]byte("mp4"), 1000)
	fileKey := "recordings/" + strings.Repeat("ab", 12) + "/call.mp4"
	if err := files.Put(context.Background(), fileKey, bytes.NewReader(body), int64(len(body)), "video/mp4"); err != nil {
		t.Fatal(err)
	}
	done := store.RecordUpdate{ID: store.RecordID(strings.Repeat("ab", 12)), Room: store.RoomID(w.room), State: store.RecordFinished,
		StartedAt: time.Now(), FinishedAt: time.Now(), FileKey: fileKey, FileSize: int64(len(body)), Files: []store.RecordFile{{Key: fileKey, Bytes: int64(len(body))}}}
	if err := e.st.ApplyRecords(context.Background(), "edge-t", []store.RecordUpdate{done}, time.Now()); err != nil {
		t.Fatal(err)
	}
	link := string(expect("GET", base+"/download/"+string(done.ID), w.owner.clientToken, nil, 200, "").body)
	if !strings.HasPrefix(link, e.base+"/files/") {
		t.Fatalf("link %q", link)
	}
	get := func() (int, []byte) {
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, got := get(); code != 200 || !bytes.Equal(got, body) {
		t.Fatalf("download: %d, %d bytes, want the %d stored", code, len(got), len(body))
	}
	if code, _ := get(); code != 200 {
		t.Fatal("a link works more than once")
	}
	clk.advance(24*time.Hour - time.Minute)
	if code, _ := get(); code != 200 {
		t.Fatalf("the link expired early: %d", code)
	}
	clk.advance(2 * time.Minute)
	if code, _ := get(); code != http.StatusGone {
		t.Fatalf("a link past 24 h: %d, want 410", code)
	}
	if code, _ := func() (int, []byte) {
		resp, err := http.Get(strings.Replace(link, "sig=", "sig=x", 1))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}(); code != http.StatusForbidden {
		t.Fatalf("a forged link: %d, want 403", code)
	}
}

// tenantOf is tn's client alone (to make another user of it).
func tenantOf(tn tenant) tenant {
	return tenant{clientID: tn.clientID, secret: tn.secret, clientToken: tn.clientToken}
}
