package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestEnvelopeSignature(t *testing.T) {
	const secret = "whsec_test"
	tests := []struct {
		name string
		body Body
		want string // the exact signed bytes
	}{
		{"call", Body{EventName: CallStarted, RoomID: "r1", SpaceID: "s1"},
			`{"eventName":"call_started","roomId":"r1","spaceId":"s1"}`},
		{"record with id", Body{EventName: RecordFinished, RoomID: "r1", SpaceID: "s1", RecordID: "rec<&>é"},
			`{"eventName":"record_finished","roomId":"r1","spaceId":"s1","recordId":"rec<&>é"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Envelope(secret, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			// What a receiver does by hand: the bytes after "body": up to
			// the final brace are the signed ones.
			i := bytes.Index(env, []byte(`,"body":`))
			if i < 0 || env[len(env)-1] != '}' {
				t.Fatalf("envelope %s", env)
			}
			raw := env[i+len(`,"body":`) : len(env)-1]
			if string(raw) != tt.want {
				t.Fatalf("body bytes %s, want %s", raw, tt.want)
			}
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte(tt.want))
			var parsed struct {
				Signature string          `json:"signature"`
				Body      json.RawMessage `json:"body"`
			}
			if err := json.Unmarshal(env, &parsed); err != nil {
				t.Fatal(err)
			}
			if parsed.Signature != hex.EncodeToString(m.Sum(nil)) {
				t.Fatalf("signature %s is not hex(HMAC-SHA256(secret, body))", parsed.Signature)
			}
			got, err := Verify(secret, env)
			if err != nil || got != tt.body {
				t.Fatalf("Verify() = %+v, %v", got, err)
			}
			if _, err := Verify("whsec_other", env); !errors.Is(err, ErrSignature) {
				t.Fatalf("Verify(other secret) = %v, want ErrSignature", err)
			}
			tampered := bytes.Replace(env, []byte(`"r1"`), []byte(`"r2"`), 1)
			if _, err := Verify(secret, tampered); !errors.Is(err, ErrSignature) {
				t.Fatalf("Verify(tampered) = %v, want ErrSignature", err)
			}
		})
	}
}

// FuzzVerify: a receiver's parse of untrusted deliveries never panics, and
// accepts only what was signed with the secret.
func FuzzVerify(f *testing.F) {
	env, _ := Envelope("whsec_fuzz", Body{EventName: CallFinished, RoomID: "r", SpaceID: "s"})
	f.Add(env)
	f.Add([]byte(`{"signature":"00","body":{}}`))
	f.Add([]byte(`{"signature":"zz","body":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := Verify("whsec_fuzz", b); err != nil {
			return
		}
		var env struct {
			Signature string          `json:"signature"`
			Body      json.RawMessage `json:"body"`
		}
		if json.Unmarshal(b, &env) != nil {
			t.Fatal("verified a delivery that does not parse")
		}
		if !strings.EqualFold(env.Signature, Sign("whsec_fuzz", env.Body)) {
			t.Fatalf("verified %q without the secret's signature", b)
		}
	})
}
