package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// EventName names an event, as in the body's eventName.
type EventName string

// The events a space's webhook receives (docs/webhooks.md, "Events").
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
	return EnvelopeOf(secret, body), nil
}

// EnvelopeOf is Envelope of an encoded body.
func EnvelopeOf(secret string, body []byte) []byte {
	sig := Sign(secret, body)
	out := make([]byte, 0, len(body)+len(sig)+32)
	out = append(out, `{"signature":"`...)
	out = append(out, sig...)
	out = append(out, `","body":`...)
	out = append(out, body...)
	out = append(out, '}')
	return out
}

// Headers of a delivery. The event id is the same on every attempt and
// redelivery of an event (a receiver drops what it has seen); the delivery
// id names one delivery of the delivery log; the timestamp is when the
// attempt was signed. HeaderSignature covers the event id, the timestamp
// and the body (HeaderSign), so a receiver can refuse a replayed request:
// an old timestamp, or an event id it has seen.
const (
	HeaderEvent     = "X-Spacecast-Event"
	HeaderEventID   = "X-Spacecast-Event-Id"
	HeaderDelivery  = "X-Spacecast-Delivery"
	HeaderTimestamp = "X-Spacecast-Timestamp"
	HeaderSignature = "X-Spacecast-Signature"
)

// ErrStale marks a delivery whose timestamp is outside the receiver's
// tolerance (a replay, or clocks far apart).
var ErrStale = errors.New("webhook: timestamp outside the tolerance")

// HeaderSign is the value of HeaderSignature: "v1=" and the hex
// HMAC-SHA256, with the webhook's secret, of the event id, ".", the
// timestamp in Unix seconds, ".", and the body's bytes as signed in the
// envelope.
func HeaderSign(secret, eventID string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(eventID))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyHeaders checks a delivery as a receiver that refuses replays does:
// the envelope's signature (Verify), then HeaderSignature over the event
// id, the timestamp and the body, and the timestamp within tolerance of
// now. It returns the event id and the body; the caller then drops an
// event id it has already processed.
func VerifyHeaders(secret string, h http.Header, payload []byte, now time.Time, tolerance time.Duration) (string, Body, error) {
	b, err := Verify(secret, payload)
	if err != nil {
		return "", Body{}, err
	}
	id, sig := h.Get(HeaderEventID), h.Get(HeaderSignature)
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if id == "" || sig == "" || err != nil {
		return "", Body{}, fmt.Errorf("%w: event id, timestamp or signature header missing", ErrSignature)
	}
	var env struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		return "", Body{}, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if !hmac.Equal([]byte(sig), []byte(HeaderSign(secret, id, ts, env.Body))) {
		return "", Body{}, fmt.Errorf("%w: header signature", ErrSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return "", Body{}, fmt.Errorf("%w: signed %s ago", ErrStale, d.Round(time.Second))
	}
	return id, b, nil
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
