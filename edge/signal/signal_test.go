package signal

import (
	"errors"
	"testing"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"
)

func TestDecode(t *testing.T) {
	ping, _ := proto.Marshal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: 5}})
	tests := []struct {
		name string
		in   []byte
		text bool
		max  int
		want error
	}{
		{"binary ping", ping, false, 1024, nil},
		{"json ping", []byte(`{"ping":"5"}`), true, 1024, nil},
		{"too large", ping, false, 1, ErrTooLarge},
		{"malformed", []byte{0xff, 0xff, 0xff}, false, 1024, ErrMalformed},
		{"malformed json", []byte(`{`), true, 1024, ErrMalformed},
		{"no message", nil, false, 1024, ErrEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := Decode(tt.in, tt.text, tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode() error = %v, want %v", err, tt.want)
			}
			if tt.want == nil && req.GetPing() != 5 {
				t.Fatalf("Decode() = %v", req)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, text bool) {
		req, err := Decode(b, text, 64<<10)
		if err != nil {
			if req != nil {
				t.Fatal("request with an error")
			}
			return
		}
		if req.Message == nil {
			t.Fatal("accepted a request without a message")
		}
		if _, err := proto.Marshal(req); err != nil {
			t.Fatalf("accepted request does not marshal: %v", err)
		}
	})
}
