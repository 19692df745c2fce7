package occupancy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testKey    = "SCkey1"
	testSecret = "0123456789abcdef0123456789abcdef-secret"
)

var testKeys = map[string]string{testKey: testSecret, "SCold": "another-secret-of-enough-length-0123456789"}

func TestSignVerify(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	body := []byte(`{"edge":"e1","boot":"b","seq":1,"full":true,"rooms":[]}`)
	good, err := Sign(testKey, testSecret, "e1", body, now)
	if err != nil {
		t.Fatal(err)
	}
	old, err := Sign("SCold", testKeys["SCold"], "e1", body, now)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := Sign(testKey, "not-the-cluster-secret-0123456789abcdef", "e1", body, now)
	unknown, _ := Sign("SCnope", testSecret, "e1", body, now)
	long := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "e1", Audience: jwt.ClaimStrings{Audience}, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}, BodySHA256: strings.Repeat("0", 64)})
	long.Header["kid"] = testKey
	longTok, _ := long.SignedString([]byte(testSecret))
	media := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: testKey, Subject: "alice",
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))})
	media.Header["kid"] = testKey
	mediaTok, _ := media.SignedString([]byte(testSecret))
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "e1", Audience: jwt.ClaimStrings{Audience}, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	}})
	none.Header["kid"] = testKey
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

	tests := []struct {
		name  string
		token string
		body  []byte
		at    time.Time
		ok    bool
	}{
		{"valid", good, body, now, true},
		{"older key still verifies", old, body, now, true},
		{"within leeway after expiry", good, body, now.Add(TokenTTL + Leeway/2), true},
		{"expired", good, body, now.Add(TokenTTL + Leeway + time.Second), false},
		{"issued in the future", good, body, now.Add(-Leeway - time.Second), false},
		{"other body", good, []byte(`{"edge":"e1","rooms":[{"room":"r","participants":1}]}`), now, false},
		{"forged secret", forged, body, now, false},
		{"unknown key id", unknown, body, now, false},
		{"lives too long", longTok, []byte{}, now, false},
		{"media token (no audience)", mediaTok, body, now, false},
		{"alg none", noneTok, body, now, false},
		{"garbage", "not.a.jwt", body, now, false},
		{"empty", "", body, now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edge, err := Verify(testKeys, tt.token, tt.body, tt.at)
			if tt.ok {
				if err != nil || edge != "e1" {
					t.Fatalf("Verify() = %q, %v; want e1", edge, err)
				}
				return
			}
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Verify() error = %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"changes", `{"edge":"e1","boot":"b","seq":3,"full":false,"rooms":[{"room":"r1","participants":2},{"room":"r2","participants":0}]}`, true},
		{"empty snapshot", `{"edge":"e1","boot":"b","seq":1,"full":true,"rooms":[]}`, true},
		{"unknown field", `{"edge":"e1","rooms":[],"admin":true}`, false},
		{"no edge", `{"rooms":[]}`, false},
		{"empty room name", `{"edge":"e1","rooms":[{"room":"","participants":1}]}`, false},
		{"negative count", `{"edge":"e1","rooms":[{"room":"r","participants":-1}]}`, false},
		{"huge count", `{"edge":"e1","rooms":[{"room":"r","participants":99999999}]}`, false},
		{"long edge", `{"edge":"` + strings.Repeat("e", MaxNameLen+1) + `","rooms":[]}`, false},
		{"trailing data", `{"edge":"e1","rooms":[]} {}`, false},
		{"not json", `edge=e1`, false},
		{"wrong type", `{"edge":1}`, false},
		{"sessions", `{"edge":"e1","rooms":[{"room":"r","participants":2,"sessions":[{"sid":"PA_1","identity":"u_1","name":"Ann"},{"sid":"PA_2","identity":"l_x"}]}]}`, true},
		{"sessions without sid", `{"edge":"e1","rooms":[{"room":"r","participants":1,"sessions":[{"sid":"","identity":"u_1"}]}]}`, false},
		{"sessions not the count", `{"edge":"e1","rooms":[{"room":"r","participants":3,"sessions":[{"sid":"PA_1","identity":"u_1"}]}]}`, false},
		{"no sessions", `{"edge":"e1","rooms":[{"room":"r","participants":0,"sessions":[]}]}`, true},
		{"record", `{"edge":"e1","rooms":[],"records":[{"id":"rec1","room":"r","state":"finished","startedAt":"2026-01-02T03:04:05Z","composed":"recordings/rec1/rec1.mp4","composedBytes":12,"files":[{"key":"recordings/rec1/rec1.mp4","bytes":12}]}]}`, true},
		{"record without room", `{"edge":"e1","rooms":[],"records":[{"id":"rec1","state":"recording","startedAt":"2026-01-02T03:04:05Z"}]}`, false},
		{"record state unknown", `{"edge":"e1","rooms":[],"records":[{"id":"rec1","room":"r","state":"paused","startedAt":"2026-01-02T03:04:05Z"}]}`, false},
		{"record file negative", `{"edge":"e1","rooms":[],"records":[{"id":"rec1","room":"r","state":"failed","startedAt":"2026-01-02T03:04:05Z","files":[{"key":"k","bytes":-1}]}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if tt.ok != (err == nil) {
				t.Fatalf("Decode() error = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode() error = %v, want ErrInvalid", err)
			}
		})
	}
	var rooms strings.Builder
	rooms.WriteString(`{"edge":"e1","rooms":[`)
	for i := 0; i <= MaxRooms; i++ {
		if i > 0 {
			rooms.WriteByte(',')
		}
		rooms.WriteString(`{"room":"r","participants":1}`)
	}
	rooms.WriteString(`]}`)
	if _, err := Decode([]byte(rooms.String())); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Decode(%d rooms) error = %v, want ErrInvalid", MaxRooms+1, err)
	}
}

// FuzzDecode: whatever the bytes, Decode either refuses them or returns a
// batch that passes Validate.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"edge":"e1","boot":"b","seq":3,"full":false,"rooms":[{"room":"r1","participants":2}]}`))
	f.Add([]byte(`{"edge":"e1","full":true,"rooms":[]}`))
	f.Add([]byte(`{"edge":"","rooms":null}`))
	f.Add([]byte(`{"edge":"e1","rooms":[],"records":[{"id":"rec1","room":"r","state":"failed","error":"disk full","startedAt":"2026-01-02T03:04:05Z","files":[{"key":"k","bytes":1}]}]}`))
	f.Add([]byte(`{"edge":"e1","rooms":[{"room":"r","participants":1,"sessions":[{"sid":"PA_1","identity":"u_1","name":"Ann"}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if err := out.Validate(); err != nil {
			t.Fatalf("decoded batch does not validate: %v", err)
		}
	})
}
