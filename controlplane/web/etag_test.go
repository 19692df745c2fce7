package web

import (
	"strings"
	"testing"
)

func TestEtagMatch(t *testing.T) {
	const etag = `"abc"`
	tests := []struct {
		name string
		list string
		want bool
	}{
		{"exact", `"abc"`, true},
		{"weak", `W/"abc"`, true},
		{"in a list", `"x", W/"abc" , "y"`, true},
		{"any", `*`, true},
		{"other", `"abd"`, false},
		{"unquoted", `abc`, false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := etagMatch(tt.list, etag); got != tt.want {
				t.Fatalf("etagMatch(%q) = %v, want %v", tt.list, got, tt.want)
			}
		})
	}
}

// FuzzEtagMatch: any If-None-Match header is handled without a panic, and
// a match means the etag (or *) is one of its entries.
func FuzzEtagMatch(f *testing.F) {
	for _, s := range []string{`"abc"`, `W/"abc", "d"`, `*`, `,,,`, `W/`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		if etagMatch(list, `"abc"`) && !strings.Contains(list, `"abc"`) && !strings.Contains(list, "*") {
			t.Fatalf("%q matched without naming the etag", list)
		}
	})
}
