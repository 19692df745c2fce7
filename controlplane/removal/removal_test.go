package removal

import (
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	s := NewSet(time.Hour, 100)
	if err := s.RevokeParticipant("r", "l_abc_x1", at); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		room, identity string
		issued, now    time.Time
		want           bool
	}{
		{"issued before", "r", "l_abc_x1", at.Add(-time.Minute), at.Add(time.Minute), true},
		{"issued at the removal", "r", "l_abc_x1", at, at.Add(time.Minute), true},
		{"issued after", "r", "l_abc_x1", at.Add(time.Second), at.Add(time.Minute), false},
		{"a user token", "r", "l_abc_x1", time.Time{}, at.Add(time.Minute), true},
		{"past the TTL", "r", "l_abc_x1", at.Add(-time.Minute), at.Add(time.Hour), false},
		{"another room", "r2", "l_abc_x1", at.Add(-time.Minute), at.Add(time.Minute), false},
		{"another identity", "r", "l_abc_x2", at.Add(-time.Minute), at.Add(time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.ParticipantRevoked(tt.room, tt.identity, tt.issued, tt.now); got != tt.want {
				t.Fatalf("ParticipantRevoked = %v, want %v", got, tt.want)
			}
		})
	}
	if !s.PrefixRevoked("r", "l_abc_", at.Add(-time.Minute), at.Add(time.Minute)) {
		t.Error("the removal of one identity of a permanent link does not bar the link")
	}
	if s.PrefixRevoked("r", "l_abd_", at.Add(-time.Minute), at.Add(time.Minute)) {
		t.Error("another link is barred")
	}
}

// TestSetBound: a full set forgets expired removals first, then the oldest.
func TestSetBound(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	s := NewSet(time.Hour, 2)
	_ = s.RevokeParticipant("r", "a", at)
	_ = s.RevokeParticipant("r", "b", at.Add(time.Minute))
	_ = s.RevokeParticipant("r", "c", at.Add(2*time.Minute))
	now := at.Add(3 * time.Minute)
	if s.ParticipantRevoked("r", "a", at.Add(-time.Second), now) {
		t.Error("the oldest removal was kept past the bound")
	}
	if !s.ParticipantRevoked("r", "b", at, now) || !s.ParticipantRevoked("r", "c", at, now) {
		t.Error("a newer removal was forgotten")
	}
	_ = s.RevokeParticipant("r", "d", at.Add(2*time.Hour)) // b and c have expired by then
	if !s.ParticipantRevoked("r", "d", at.Add(time.Hour), at.Add(2*time.Hour)) {
		t.Error("the new removal was not kept")
	}
}
