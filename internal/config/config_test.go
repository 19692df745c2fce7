package config

import (
	"errors"
	"testing"
)

type sample struct {
	Listen string `yaml:"listen"`
	Nested struct {
		N int `yaml:"n"`
	} `yaml:"nested"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    sample
		wantErr bool
	}{
		{name: "empty keeps defaults", in: "", want: sample{Listen: "def"}},
		{name: "known keys", in: "listen: a:1\nnested:\n  n: 3\n", want: func() sample { s := sample{Listen: "a:1"}; s.Nested.N = 3; return s }()},
		{name: "unknown top-level key", in: "listne: x\n", wantErr: true},
		{name: "unknown nested key", in: "nested:\n  m: 1\n", wantErr: true},
		{name: "wrong type", in: "nested:\n  n: abc\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sample{Listen: "def"}
			err := Decode([]byte(tt.in), &got)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Decode() error = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			if got != tt.want {
				t.Fatalf("Decode() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
