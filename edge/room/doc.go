// Package room holds the edge's rooms and participants and carries their
// media. Each participant is an actor (Galène's design): its signalling
// reader and writer run in the HTTP handler that owns the WebSocket, and one
// loop goroutine owns the participant's state and both peer connections;
// everyone else talks to it by posting to its mailbox, which never blocks.
// Rooms keep immutable snapshots of participant info under a mutex and post
// to mailboxes only after releasing it. Media fans out from one reader
// goroutine per received track layer to the subscribers' down tracks through
// a copy-on-write slice: no lock and no allocation per packet. Each
// subscriber's layers follow its bandwidth estimate: the edge's own
// send-side estimate (edge/bwe) from the client's transport-cc feedback,
// with probes for headroom, or the client's REMB when it negotiated no
// transport-cc (estimate.go); its simulcast.Allocator shares the estimate
// among its tracks by priority, pausing the videos nothing fits
// (layers.go). Connection quality rates every participant's paths and
// layers (quality.go). Subscribers' RTP leaves through the
// edge's own SRTP path (edge/srtpout) into the reader's mmsg.Batch when the
// subscriber connection allows it (rtc.APIOptions.Direct), else through pion.
package room
