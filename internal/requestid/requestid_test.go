package requestid

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"3f2b8c1e-9a4d-4e6f-8b1a-2c3d4e5f6a7b", true},
		{"01HZX3J5Q8K2M4N6P8R0T2V4W6", true},
		{"trace:abc.def_1", true},
		{"", false},
		{strings.Repeat("a", MaxLen), true},
		{strings.Repeat("a", MaxLen+1), false},
		{"has space", false},
		{"new\nline", false},
		{`quote"d`, false},
		{"semi;colon", false},
		{"é", false},
		{"a\x00b", false},
	} {
		if got := Valid(tc.id); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestNewAndOr(t *testing.T) {
	a, b := New(), New()
	if !Valid(a) || a == b {
		t.Fatalf("New: %q, %q", a, b)
	}
	if got := Or("client-id-1"); got != "client-id-1" {
		t.Errorf("Or kept %q, want the client's", got)
	}
	if got := Or("bad id"); got == "bad id" || !Valid(got) {
		t.Errorf("Or(bad) = %q, want a fresh valid id", got)
	}
}

func TestFromToken(t *testing.T) {
	jwt := func(payload string) string {
		return "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".sig"
	}
	for _, tc := range []struct {
		name, token, want string
	}{
		{"claim", jwt(`{"sub":"u","rid":"req-1"}`), "req-1"},
		{"no claim", jwt(`{"sub":"u"}`), ""},
		{"unsafe claim", jwt(`{"rid":"a b\n"}`), ""},
		{"not a string", jwt(`{"rid":5}`), ""},
		{"not json", jwt(`rid`), ""},
		{"two parts", "a.b", ""},
		{"bad base64", "a.!!!.c", ""},
	} {
		if got := FromToken(tc.token); got != tc.want {
			t.Errorf("%s: FromToken = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func FuzzFromToken(f *testing.F) {
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJyaWQiOiJ4In0.sig")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		if id := FromToken(s); id != "" && !Valid(id) {
			t.Fatalf("FromToken(%q) = %q, not a valid id", s, id)
		}
	})
}
