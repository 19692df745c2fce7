package storetest

import (
	"context"
	"sync"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// listener collects the topics Listen hands out.
type listener struct {
	mu   sync.Mutex
	seen map[store.Topic]int
}

func (l *listener) add(t store.Topic) {
	l.mu.Lock()
	l.seen[t]++
	l.mu.Unlock()
}

func (l *listener) reset() {
	l.mu.Lock()
	clear(l.seen)
	l.mu.Unlock()
}

func (l *listener) has(t store.Topic) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[t] > 0
}

// listen starts s.Listen for the rest of the subtest.
func (f *fx) listen(s store.Store) *listener {
	l := &listener{seen: map[store.Topic]int{}}
	ctx, cancel := context.WithCancel(f.ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Listen(ctx, l.add) })
	f.t.Cleanup(func() { cancel(); wg.Wait() })
	return l
}

// heard waits up to 2 s for topic after what; it fails the test without.
func (f *fx) heard(l *listener, topic store.Topic, what string) {
	f.t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !l.has(topic); {
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: no %q change heard within 2 s", what, topic)
		}
		time.Sleep(5 * time.Millisecond) // polling
	}
}

// testChanges: every write that replicas cache the result of is heard by
// Listen, under its topic.
func testChanges(f *fx) {
	w := f.world()
	c := w.client.ID
	l := f.listen(f.s)
	// Listening has started once a change is heard.
	for deadline := time.Now().Add(5 * time.Second); ; {
		f.must(f.s.AddSigningKey(f.ctx, store.SigningKey{ID: newID("k"), Secret: []byte("s"), CreatedAt: f.at()}), "add key")
		if l.has(store.TopicKeys) {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatal("Listen heard nothing")
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
	r2 := f.room(c, w.space.ID, w.owner.ID)
	u2 := f.user(c)
	steps := []struct {
		name  string
		topic store.Topic
		do    func() error
	}{
		{"add signing key", store.TopicKeys, func() error {
			return f.s.AddSigningKey(f.ctx, store.SigningKey{ID: newID("k"), Secret: []byte("s"), CreatedAt: f.at()})
		}},
		{"update room", store.TopicRooms, func() error {
			r := w.room
			r.Name, r.UpdatedAt = "renamed", f.at()
			return f.s.UpdateRoom(f.ctx, r)
		}},
		{"set room member", store.TopicRooms, func() error {
			return f.s.SetRoomMember(f.ctx, c, store.RoomMember{RoomID: w.room.ID, UserID: u2.ID, Role: store.RoomRoleUser, CreatedAt: f.at()})
		}},
		{"update space", store.TopicRooms, func() error {
			sp := w.space
			sp.IsPublic, sp.UpdatedAt = false, f.at()
			return f.s.UpdateSpace(f.ctx, sp)
		}},
		{"delete room", store.TopicRooms, func() error { return f.s.DeleteRoom(f.ctx, c, w.space.ID, r2.ID) }},
		{"revoke tokens", store.TopicRevocations, func() error {
			_, err := f.s.RevokeTokens(f.ctx, f.revocation(c, store.RevokeToken, "jti", time.Hour))
			return err
		}},
		{"rotate client secret", store.TopicRevocations, func() error { return f.s.SetClientSecret(f.ctx, c, "h2", f.at()) }},
		{"delete user (roles)", store.TopicRooms, func() error { return f.s.DeleteUser(f.ctx, c, u2.ID) }},
		{"delete space", store.TopicRooms, func() error { return f.s.DeleteSpace(f.ctx, c, w.space.ID) }},
		{"delete client", store.TopicRevocations, func() error { return f.s.DeleteClient(f.ctx, c) }},
	}
	for _, st := range steps {
		l.reset()
		f.must(st.do(), st.name)
		f.heard(l, st.topic, st.name)
	}
}
