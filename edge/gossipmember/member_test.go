package gossipmember

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/gossip"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeNode struct {
	mu       sync.Mutex
	subs     []func(gossip.Event)
	rooms    map[string]gossip.Room
	load     gossip.Load
	draining bool
	revoked  map[string]time.Time // identity → issued-before bound
}

func (f *fakeNode) SetRoom(name string, r gossip.Room) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms[name] = r
}
func (f *fakeNode) RemoveRoom(name string) { f.mu.Lock(); delete(f.rooms, name); f.mu.Unlock() }
func (f *fakeNode) SetLoad(l gossip.Load)  { f.mu.Lock(); f.load = l; f.mu.Unlock() }
func (f *fakeNode) SetDraining(d bool)     { f.mu.Lock(); f.draining = d; f.mu.Unlock() }
func (f *fakeNode) RevokedIssued(_, identity, _ string, issued time.Time) bool {
	b, ok := f.revoked[identity]
	return ok && !issued.After(b)
}

func (f *fakeNode) Revoke(r gossip.Revocation) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[r.Subject] = r.IssuedBefore
	return nil
}

func (f *fakeNode) Subscribe(fn func(gossip.Event)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, fn)
	return func() {}
}

func (f *fakeNode) post(e gossip.Event) bool {
	f.mu.Lock()
	subs := append([]func(gossip.Event){}, f.subs...)
	f.mu.Unlock()
	for _, fn := range subs {
		fn(e)
	}
	return len(subs) > 0
}

func (f *fakeNode) snapshot() (map[string]gossip.Room, gossip.Load) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]gossip.Room, len(f.rooms))
	for k, v := range f.rooms {
		out[k] = v
	}
	return out, f.load
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Room events become directory entries and load; a finished room leaves
// the directory.
func TestMemberPublishesRoomsAndLoad(t *testing.T) {
	node := &fakeNode{rooms: map[string]gossip.Room{}, revoked: map[string]time.Time{}}
	m, err := New(Deps{Node: node, LoadInterval: 10 * time.Millisecond, CPU: func() float64 { return 12.5 }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	rm := &livekit.Room{Name: "R1"}
	alice := &livekit.ParticipantInfo{Sid: "PA", Identity: "alice"}
	bob := &livekit.ParticipantInfo{Sid: "PB", Identity: "bob"}
	m.RoomStarted(rm)
	waitFor(t, "room announced on start", func() bool { r, _ := node.snapshot(); _, ok := r["R1"]; return ok })
	m.ParticipantJoined(rm, alice)
	m.ParticipantJoined(rm, bob)
	m.TrackPublished(rm, alice, &livekit.TrackInfo{Sid: "TV", Type: livekit.TrackType_VIDEO})
	m.TrackPublished(rm, alice, &livekit.TrackInfo{Sid: "TA", Type: livekit.TrackType_AUDIO})
	m.TrackPublished(rm, bob, &livekit.TrackInfo{Sid: "TB", Type: livekit.TrackType_AUDIO})
	waitFor(t, "participants and tracks", func() bool {
		r, l := node.snapshot()
		return r["R1"].Participants == 2 && len(r["R1"].Tracks) == 3 && l.Participants == 2 && l.Tracks == 3 && l.CPU == 12.5
	})
	r, _ := node.snapshot()
	want := []gossip.Track{{SID: "TA", Participant: "alice", Kind: "audio"}, {SID: "TB", Participant: "bob", Kind: "audio"}, {SID: "TV", Participant: "alice", Kind: "video"}}
	for i, tr := range r["R1"].Tracks {
		if tr != want[i] {
			t.Fatalf("track %d = %+v, want %+v", i, tr, want[i])
		}
	}
	// A participant that leaves takes its tracks along.
	m.ParticipantLeft(rm, alice, livekit.DisconnectReason_CLIENT_INITIATED)
	waitFor(t, "alice gone", func() bool {
		r, l := node.snapshot()
		return r["R1"].Participants == 1 && len(r["R1"].Tracks) == 1 && l.Participants == 1 && l.Tracks == 1
	})
	m.TrackUnpublished(rm, bob, &livekit.TrackInfo{Sid: "TB"})
	m.ParticipantLeft(rm, bob, livekit.DisconnectReason_CLIENT_INITIATED)
	m.RoomFinished(rm)
	waitFor(t, "room removed", func() bool { r, l := node.snapshot(); _, ok := r["R1"]; return !ok && l.Participants == 0 })
}

func TestMemberRevokedAndDraining(t *testing.T) {
	removedAt := time.Unix(1_700_000_000, 0)
	node := &fakeNode{rooms: map[string]gossip.Room{}, revoked: map[string]time.Time{"alice": removedAt}}
	m, err := New(Deps{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Revoked("R", "alice", removedAt.Add(-time.Minute)) {
		t.Fatal("old credential of a removed participant admitted")
	}
	if m.Revoked("R", "alice", removedAt.Add(time.Minute)) {
		t.Fatal("fresh credential refused")
	}
	m.SetDraining(true)
	if !node.draining {
		t.Fatal("draining not advertised")
	}
	if _, err := New(Deps{}); err == nil {
		t.Fatal("New without a node succeeded")
	}
}

// A gossiped revocation disconnects the participants it bars: one room for
// a participant revocation, every room for a user revocation; member
// events are ignored.
func TestMemberEvictsOnRevocation(t *testing.T) {
	node := &fakeNode{rooms: map[string]gossip.Room{}, revoked: map[string]time.Time{}}
	type call struct {
		room, identity string
		before         time.Time
	}
	calls := make(chan call, 4)
	m, err := New(Deps{Node: node, Evict: func(room, identity string, before time.Time) int {
		calls <- call{room, identity, before}
		return 1
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "subscribed", func() bool { node.mu.Lock(); defer node.mu.Unlock(); return len(node.subs) == 1 })
	at := time.Unix(1_700_000_000, 0)
	node.post(gossip.Event{Kind: gossip.EventJoin})
	node.post(gossip.Event{Kind: gossip.EventRevoke, Revocation: gossip.Revocation{Kind: gossip.RevokeParticipant, Room: "R", Subject: "alice", IssuedBefore: at}})
	node.post(gossip.Event{Kind: gossip.EventRevoke, Revocation: gossip.Revocation{Kind: gossip.RevokeUser, Subject: "bob"}})
	node.post(gossip.Event{Kind: gossip.EventRevoke, Revocation: gossip.Revocation{Kind: gossip.RevokeToken, Subject: "jti"}})
	want := []call{{"R", "alice", at}, {"", "bob", time.Time{}}}
	for _, w := range want {
		select {
		case c := <-calls:
			if c != w {
				t.Fatalf("evict(%+v), want %+v", c, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no eviction for %+v", w)
		}
	}
	select {
	case c := <-calls:
		t.Fatalf("unexpected eviction %+v", c)
	default:
	}
}

func TestRusageCPU(t *testing.T) {
	cpu := newRusageCPU()
	end := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(end) {
		x++
	}
	if v := cpu(); v <= 0 || v > 100 {
		t.Fatalf("cpu after a busy loop = %v, want (0, 100]", v)
	}
}

// The media socket's bytes become the advertised bandwidth.
func TestBandwidth(t *testing.T) {
	node := &fakeNode{rooms: map[string]gossip.Room{}, revoked: map[string]time.Time{}}
	var sent atomic.Uint64
	mem, err := New(Deps{Node: node, LoadInterval: 20 * time.Millisecond, BytesOut: sent.Load, CPU: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mem.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// 1 MB/s = 8000 kbit/s, fed in steps.
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sent.Add(5000)
			}
		}
	}()
	defer func() { close(stop); <-fed }()
	waitFor(t, "bandwidth near 8000 kbit/s", func() bool {
		_, l := node.snapshot()
		return l.BandwidthKbps > 4000 && l.BandwidthKbps < 12000
	})
}
