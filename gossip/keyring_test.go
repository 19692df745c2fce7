package gossip

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// logWatch is a slog handler that remembers messages.
type logWatch struct {
	mu   sync.Mutex
	msgs []string
}

func (w *logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w *logWatch) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	w.msgs = append(w.msgs, r.Message)
	w.mu.Unlock()
	return nil
}
func (w *logWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *logWatch) WithGroup(string) slog.Handler      { return w }

func (w *logWatch) count(substr string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestWrongKeyCannotJoin(t *testing.T) {
	nodes := startCluster(t, 3, withKeys(key(1)))
	tests := []struct {
		name string
		keys [][]byte
	}{
		{"other key", [][]byte{key(2)}},
		{"no key", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &logWatch{}
			intruder := startNode(t, "intruder-"+strings.ReplaceAll(tc.name, " ", "-"), []string{nodes[0].Addr()},
				withKeys(tc.keys...), withLogger(slog.New(w)))
			// Wait for two failed join rounds, then check nobody let it in.
			waitFor(t, 10*time.Second, "two failed joins", func() bool { return w.count("no seed answered") >= 2 })
			if got := len(intruder.Nodes()); got != 1 {
				t.Fatalf("intruder sees %d members", got)
			}
			for _, n := range nodes {
				if _, ok := memberByID(n.Node, intruder.ID()); ok {
					t.Fatalf("%s let the intruder in", n.ID())
				}
			}
			intruder.stop(t)
		})
	}
}

func TestKeyRotationWithoutRestart(t *testing.T) {
	oldKey, newKey := key(1), key(2)
	nodes := startCluster(t, 3, withKeys(oldKey))
	steps := [][][]byte{
		{oldKey, newKey}, // install the new key everywhere
		{newKey, oldKey}, // then encrypt with it
		{newKey},         // then drop the old one
	}
	for _, ring := range steps {
		for _, n := range nodes {
			if err := n.SetKeys(ring); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The cluster still talks (metadata still propagates) with the new key.
	nodes[0].SetDraining(true)
	waitFor(t, 5*time.Second, "update under the new key", func() bool {
		for _, n := range nodes {
			m, ok := memberByID(n.Node, "n0")
			if !ok || !m.Meta.Draining {
				return false
			}
		}
		return true
	})
	// A node with only the new key joins; one with only the old key does not.
	fresh := startNode(t, "fresh", []string{nodes[1].Addr()}, withKeys(newKey))
	waitFor(t, 10*time.Second, "new-key node joined", func() bool { return allSee(append(nodes, fresh), 4) })
	w := &logWatch{}
	stale := startNode(t, "stale", []string{nodes[1].Addr()}, withKeys(oldKey), withLogger(slog.New(w)))
	waitFor(t, 10*time.Second, "old-key node refused twice", func() bool { return w.count("no seed answered") >= 2 })
	if len(stale.Nodes()) != 1 {
		t.Fatalf("old-key node joined: %v", stale.Nodes())
	}
}

func TestSetKeysErrors(t *testing.T) {
	plain := startCluster(t, 1)
	if err := plain[0].SetKeys([][]byte{key(1)}); err == nil {
		t.Error("SetKeys on an unencrypted cluster succeeded")
	}
	enc := startNode(t, "enc", nil, withKeys(key(1)))
	waitFor(t, 5*time.Second, "running", func() bool { return len(enc.Nodes()) == 1 })
	if err := enc.SetKeys(nil); err == nil {
		t.Error("empty keyring accepted")
	}
	if err := enc.SetKeys([][]byte{[]byte("short")}); err == nil {
		t.Error("5-byte key accepted")
	}
}
