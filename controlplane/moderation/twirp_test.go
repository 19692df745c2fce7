package moderation

import "testing"

func TestTwirpBase(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"ws://edge.example:7880", "http://edge.example:7880"},
		{"wss://edge.example/sfu/", "https://edge.example/sfu"},
		{"https://edge.example?x=1#f", "https://edge.example"},
	} {
		if got, err := TwirpBase(tt.in); err != nil || got != tt.want {
			t.Errorf("TwirpBase(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := TwirpBase("turn:edge.example"); err == nil {
		t.Error("a turn: URL was taken for a signalling URL")
	}
}
