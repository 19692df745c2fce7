package relay

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func leafDER(t *testing.T, id *Identity) [][]byte {
	t.Helper()
	c, err := id.certificate()
	if err != nil {
		t.Fatal(err)
	}
	return c.Certificate
}

// TestIdentitySameKeySameCA: two nodes that share a key derive the same CA
// (byte for byte) and accept each other's leaves, naming their node ids.
func TestIdentitySameKeySameCA(t *testing.T) {
	k := newKey(t)
	a, err := NewIdentity("a", [][]byte{k}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewIdentity("b", [][]byte{k}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.cas[0].der, b.cas[0].der) {
		t.Fatal("the same key gave two different CA certificates")
	}
	if node, err := a.verify(leafDER(t, b), "b"); err != nil || node != "b" {
		t.Fatalf("a.verify(b's leaf) = %q, %v", node, err)
	}
	if _, err := a.verify(leafDER(t, b), "c"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("a leaf of b accepted as c: %v", err)
	}
	x, err := NewIdentity("x", [][]byte{newKey(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.verify(leafDER(t, x), ""); !errors.Is(err, ErrNotMember) {
		t.Fatalf("a foreign leaf verified: %v", err)
	}
	if _, err := a.verify(nil, ""); !errors.Is(err, ErrNotMember) {
		t.Fatalf("no certificate verified: %v", err)
	}
}

// TestIdentityRotation follows the keyring's three-step rotation: a new
// key added second is trusted at once; once it is first, leaves come from
// it; once the old key is gone, leaves of the old CA are refused.
func TestIdentityRotation(t *testing.T) {
	oldK, newK := newKey(t), newKey(t)
	a, _ := NewIdentity("a", [][]byte{oldK}, nil)
	b, _ := NewIdentity("b", [][]byte{oldK}, nil)
	oldLeaf := leafDER(t, b)

	if err := a.SetKeys([][]byte{oldK, newK}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.verify(oldLeaf, "b"); err != nil {
		t.Fatalf("step 1: old leaf refused: %v", err)
	}
	if err := b.SetKeys([][]byte{newK, oldK}); err != nil {
		t.Fatal(err)
	}
	newLeaf := leafDER(t, b)
	if bytes.Equal(newLeaf[0], oldLeaf[0]) {
		t.Fatal("step 2: the leaf was not reissued by the new primary")
	}
	if _, err := a.verify(newLeaf, "b"); err != nil {
		t.Fatalf("step 2: new leaf refused by a node that has the key second: %v", err)
	}
	if err := a.SetKeys([][]byte{newK}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.verify(oldLeaf, "b"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("step 3: a leaf of the removed key verified: %v", err)
	}
	if _, err := a.verify(newLeaf, "b"); err != nil {
		t.Fatalf("step 3: new leaf refused: %v", err)
	}
}

// TestIdentityRenewal: a leaf is reused until a day before it expires,
// then replaced; an expired leaf is refused by its peers.
func TestIdentityRenewal(t *testing.T) {
	k := newKey(t)
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	a, _ := NewIdentity("a", [][]byte{k}, c.now)
	b, _ := NewIdentity("b", [][]byte{k}, c.now)
	first := leafDER(t, a)
	c.add(leafLifetime - leafRenew - time.Minute)
	if !bytes.Equal(leafDER(t, a)[0], first[0]) {
		t.Fatal("leaf renewed too early")
	}
	c.add(2 * time.Minute)
	if bytes.Equal(leafDER(t, a)[0], first[0]) {
		t.Fatal("leaf not renewed in its last day")
	}
	c.add(leafRenew)
	if _, err := b.verify(first, "a"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("an expired leaf verified: %v", err)
	}
}

func TestIdentityConfig(t *testing.T) {
	if _, err := NewIdentity("a", nil, nil); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("no keys: %v", err)
	}
	if _, err := NewIdentity("a", [][]byte{make([]byte, 8)}, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("short key: %v", err)
	}
	if _, err := NewIdentity("", [][]byte{newKey(t)}, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("no node: %v", err)
	}
}
