package removal

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store/sqlite"
)

// TestStored: a removal recorded through one replica's Stored bars the
// credentials issued before it on that replica at once and on another
// replica (another Denylist over the same store) once it has read the
// store; a permanent link's prefix is barred with it; a credential issued
// after the removal, another room or past the TTL is not.
func TestStored(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Now().UTC().Truncate(time.Millisecond)
	clock := func() time.Time { return at }
	denyA, denyB := auth.NewDenylist(st, clock, time.Hour), auth.NewDenylist(st, clock, time.Hour)
	for _, d := range []*auth.Denylist{denyA, denyB} {
		if err := d.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a, b := NewStored(st, denyA, time.Hour), NewStored(st, denyB, time.Hour)
	if err := a.RevokeParticipant("r1", "l_abc_x1", at); err != nil {
		t.Fatal(err)
	}
	before, after := at.Add(-time.Minute), at.Add(time.Second)
	if !a.ParticipantRevoked("r1", "l_abc_x1", before, at) {
		t.Fatal("the replica that recorded the removal does not bar it")
	}
	if err := denyB.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		room, identity string
		issued, now    time.Time
		want           bool
	}{
		{"issued before", "r1", "l_abc_x1", before, at, true},
		{"a user token", "r1", "l_abc_x1", time.Time{}, at, true},
		{"issued after", "r1", "l_abc_x1", after, at, false},
		{"another room", "r2", "l_abc_x1", before, at, false},
		{"another identity", "r1", "l_abc_x2", before, at, false},
		{"past the TTL", "r1", "l_abc_x1", before, at.Add(time.Hour + time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.ParticipantRevoked(tt.room, tt.identity, tt.issued, tt.now); got != tt.want {
				t.Fatalf("ParticipantRevoked = %v, want %v", got, tt.want)
			}
		})
	}
	if !b.PrefixRevoked("r1", "l_abc_", before, at) || b.PrefixRevoked("r1", "l_abd_", before, at) || b.PrefixRevoked("r1", "l_abc_", after, at) {
		t.Fatal("PrefixRevoked: want the link's prefix barred for credentials issued before, no other")
	}
}
