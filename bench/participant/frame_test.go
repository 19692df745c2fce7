package participant

import "testing"

func TestFrameBytes(t *testing.T) {
	tests := []struct {
		name string
		kbps int
		want int
	}{
		{"default", 0, 600},
		{"600 kbps at 30 fps", 600, 2500},
		{"tiny keeps room for the stamp", 1, 10 + stampLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := frameBytes(tt.kbps); got != tt.want {
				t.Fatalf("frameBytes(%d) = %d, want %d", tt.kbps, got, tt.want)
			}
		})
	}
}
