// Package participant is the bench's simulated participant, built on
// LiveKit's Go SDK (server-sdk-go/v2) the way an integrator's client would
// be: it redeems a link at the control plane's join endpoint (or is given
// a server URL and a LiveKit token directly), connects to the edge it is
// given, publishes synthetic VP8 (three simulcast layers, or one at a set
// bitrate) and Opus whose payloads carry the send time, subscribes to everyone, and
// measures join latency (REST join, signalling connected, first RTP),
// per-track loss, jitter (RFC 3550 §6.4.1), bitrate and one-way delay.
// The payload stamp makes one-way delay exact when publishers and
// subscribers share a clock (one machine, several namespaces).
package participant
