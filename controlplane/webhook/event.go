package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spacecast/spacecast/controlplane/store"
)

// EventName names an event, as in the body's eventName.
type EventName string

// The events of the reference (api-compat: "Webhooks (per space)").
const (
	CallStarted    EventName = "call_started"
	CallFinished   EventName = "call_finished"
	RecordStarted  EventName = "record_started"
	RecordFinished EventName = "record_finished"
	RecordFailed   EventName = "record_failed"
)

// ErrSignature marks a delivery whose signature does not match its body.
var ErrSignature = errors.New("webhook: bad signature")

// Event is what happened, to be delivered to the room's space's webhook.
type Event struct {
	Name   EventName
	RoomID store.RoomID
	// ClientID and SpaceID are the room's; when either is empty the
	// Deliverer looks the room up (edges only know a room by its id).
	ClientID store.ClientID
	SpaceID  store.SpaceID
	// RecordID is set on record_* events.
	RecordID string
}

// Body is the signed part of a delivery.
type Body struct {
	EventName EventName `json:"eventName"`
	RoomID    string    `json:"roomId"`
	SpaceID   string    `json:"spaceId"`
	RecordID  string    `json:"recordId,omitempty"`
}

// EncodeBody is the body's JSON as sent and signed: compact, the fields in
// the order of Body, no HTML escaping (what JavaScript's JSON.stringify
// makes of the parsed object).
func EncodeBody(b Body) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return nil, fmt.Errorf("webhook: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Sign is hex(HMAC-SHA256(secret, body)).
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Envelope is a delivery's request body: {"signature":…,"body":…}, where
// the bytes after `"body":` up to the closing brace are exactly the signed
// bytes.
func Envelope(secret string, b Body) ([]byte, error) {
	body, err := EncodeBody(b)
	if err != nil {
		return nil, err
	}
	sig := Sign(secret, body)
	out := make([]byte, 0, len(body)+len(sig)+32)
	out = append(out, `{"signature":"`...)
	out = append(out, sig...)
	out = append(out, `","body":`...)
	out = append(out, body...)
	out = append(out, '}')
	return out, nil
}

// Verify checks a delivery's request body as a receiver does: it takes the
// raw bytes of "body", recomputes the HMAC with the webhook's secret,
// compares in constant time, and only then decodes the event.
func Verify(secret string, payload []byte) (Body, error) {
	var env struct {
		Signature string          `json:"signature"`
		Body      json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		return Body{}, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	got, err := hex.DecodeString(env.Signature)
	if err != nil {
		return Body{}, fmt.Errorf("%w: signature is not hex", ErrSignature)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(env.Body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return Body{}, ErrSignature
	}
	var b Body
	if err := json.Unmarshal(env.Body, &b); err != nil {
		return Body{}, fmt.Errorf("webhook: body: %w", err)
	}
	return b, nil
}
