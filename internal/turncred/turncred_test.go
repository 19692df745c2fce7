package turncred

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// The password of a known username, computed with openssl:
// printf %s 1800000000:alice | openssl dgst -sha1 -hmac s3cret -binary | base64
func TestMintMatchesTheDraft(t *testing.T) {
	user, pass := Mint("s3cret", "alice", time.Unix(1_800_000_000, 0))
	if user != "1800000000:alice" || pass != "3i66Yob+5ER4xVxIRXhvnAp6moo=" {
		t.Fatalf("Mint = %q, %q", user, pass)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		wantID   string
		wantErr  bool
	}{
		{"plain", "1800000000:alice", "alice", false},
		{"identity with colons", "1800000000:room:alice", "room:alice", false},
		{"no colon", "1800000000", "", true},
		{"empty identity", "1800000000:", "", true},
		{"empty expiry", ":alice", "", true},
		{"signed expiry", "+1800000000:alice", "", true},
		{"negative expiry", "-1:alice", "", true},
		{"not a number", "soon:alice", "", true},
		{"too long", "1:" + strings.Repeat("a", 600), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, id, err := Parse(tt.in)
			if (err != nil) != tt.wantErr || id != tt.wantID {
				t.Fatalf("Parse(%q) = %q, %v", tt.in, id, err)
			}
			if err != nil && !errors.Is(err, ErrMalformedUsername) {
				t.Fatalf("error %v is not ErrMalformedUsername", err)
			}
			if err == nil && exp.Unix() != 1_800_000_000 {
				t.Fatalf("expiry %v", exp)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	user, pass := Mint("new", "alice", now.Add(time.Minute))
	oldUser, oldPass := Mint("old", "bob", now.Add(time.Minute))
	expUser, expPass := Mint("new", "carol", now)
	tests := []struct {
		name, user, pass string
		want             error
		wantID           string
	}{
		{"signed by the primary secret", user, pass, nil, "alice"},
		{"signed by an older secret (rotation)", oldUser, oldPass, nil, "bob"},
		{"expired at its expiry", expUser, expPass, ErrExpired, ""},
		{"wrong password", user, oldPass, ErrForged, ""},
		{"identity changed", strings.Replace(user, "alice", "admin", 1), pass, ErrForged, ""},
		{"malformed", "alice", pass, ErrMalformedUsername, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, exp, err := Verify(tt.user, tt.pass, []string{"new", "old"}, now)
			if !errors.Is(err, tt.want) || id != tt.wantID {
				t.Fatalf("Verify = %q, %v, want %q, %v", id, err, tt.wantID, tt.want)
			}
			if err == nil && !exp.Equal(now.Add(time.Minute)) {
				t.Fatalf("expiry %v", exp)
			}
		})
	}
}

// The JSON of an entry is the REST API's: urls always, username and
// credential only when there is a credential.
func TestICEServerJSON(t *testing.T) {
	for _, tc := range []struct {
		in   ICEServer
		want string
	}{
		{ICEServer{URLs: []string{"turn:h:3478?transport=udp"}, Username: "1:a", Credential: "c"}, `{"urls":["turn:h:3478?transport=udp"],"username":"1:a","credential":"c"}`},
		{ICEServer{URLs: []string{"stun:h:3478"}}, `{"urls":["stun:h:3478"]}`},
	} {
		b, err := json.Marshal(tc.in)
		if err != nil || string(b) != tc.want {
			t.Fatalf("%+v: %s, %v; want %s", tc.in, b, err, tc.want)
		}
	}
}

// FuzzParse: usernames come from anyone on the Internet.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1800000000:alice", "1:a:b", ":", "", "99999999999999999999:x", "-5:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		exp, id, err := Parse(s)
		if err != nil {
			return
		}
		if id == "" || !strings.HasSuffix(s, ":"+id) || exp.Unix() < 0 {
			t.Fatalf("Parse(%q) = %v, %q", s, exp, id)
		}
	})
}
