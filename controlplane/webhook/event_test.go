package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
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

// TestHeaderSignature: the header signature covers the event id, the
// timestamp and the body; a receiver refuses a request where any of them
// was changed, an old one (a replay), or one without the headers.
func TestHeaderSignature(t *testing.T) {
	body, err := EncodeBody(Body{EventName: CallStarted, RoomID: "r1", SpaceID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	payload := EnvelopeOf("sec", body)
	headers := func(id string, ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderEventID, id)
		h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(HeaderSignature, sig)
		return h
	}
	good := HeaderSign("sec", "ev1", now.Unix(), body)
	if !strings.HasPrefix(good, "v1=") || len(good) != 3+64 {
		t.Fatalf("signature %q", good)
	}
	tests := []struct {
		name    string
		h       http.Header
		payload []byte
		secret  string
		want    error
	}{
		{"good", headers("ev1", now.Unix(), good), payload, "sec", nil},
		{"another event id", headers("ev2", now.Unix(), good), payload, "sec", ErrSignature},
		{"another timestamp", headers("ev1", now.Unix()+1, good), payload, "sec", ErrSignature},
		{"another secret", headers("ev1", now.Unix(), good), EnvelopeOf("other", body), "other", ErrSignature},
		{"no headers", http.Header{}, payload, "sec", ErrSignature},
		{"replayed later", headers("ev1", now.Unix()-600, HeaderSign("sec", "ev1", now.Unix()-600, body)), payload, "sec", ErrStale},
		{"body changed", headers("ev1", now.Unix(), good), EnvelopeOf("sec", []byte(`{"eventName":"call_finished","roomId":"r1","spaceId":"s1"}`)), "sec", ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, b, err := VerifyHeaders(tt.secret, tt.h, tt.payload, now, 5*time.Minute)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("VerifyHeaders = %v, want %v", err, tt.want)
			}
			if err == nil && (id != "ev1" || b.EventName != CallStarted) {
				t.Fatalf("got %q %+v", id, b)
			}
		})
	}
}
