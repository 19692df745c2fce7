// Package forward is the per-subscriber, per-track media path of the edge:
// what LiveKit calls a down track, without any pion dependency in its core.
//
// A Source stands for one published track (all its simulcast layers): it
// parses each incoming RTP packet once (Parse), keeps the publisher's sender
// reports per layer for timestamp mapping, measures each layer's bitrate and
// collapses the keyframe requests (PLI/FIR) of all subscribers into at most one
// per layer per interval.
//
// A Forwarder is one subscriber's view of a Source. For every parsed packet it
// decides whether to send it (the selected layer only, switching only at a
// keyframe), rewrites SSRC, sequence number, timestamp and — for VP8 — picture
// ID, TL0PICIDX and KEYIDX so the subscriber sees one continuous stream across
// layer switches, pauses and resumes, and copies the result into a bounded
// Queue. A Queue that is full drops and counts, so one slow subscriber never
// slows the others. NACKs from the subscriber (in its rewritten sequence space)
// map back to (layer, source sequence number) for edge/cache, and Retransmit
// rewrites the cached packet the same way; a NACK for a packet gone for good
// asks the publisher for a keyframe. Within the layer, the pictures of VP8
// temporal layers above the subscriber's (SetTemporal) are dropped, out of
// its sequence numbers and picture ids, so it sees a lower frame rate of
// the same stream (temporal.go).
//
// Padding-only packets (bandwidth probes) are taken out of the subscriber's
// sequence space, and a jump of thousands of sequence numbers (a restarted
// publisher stream) starts a new segment at the next keyframe. Prime replays
// the newest cached keyframe so a new subscriber need not wait for one.
// Sender drains a Queue into pion-style writers (the only pion type used
// here is rtp.Header, to hand packets over without allocating). Payload
// parsing lives in edge/codec, which this work also owns.
//
// Nothing on the forwarding path allocates (see BenchmarkForward).
//
// Threading: Forward and Retransmit may be called from several goroutines (one
// per simulcast layer, plus the RTCP reader); a Forwarder serialises them with
// a mutex that is uncontended in the common case. SetTarget, Target and Stats
// may be called from any goroutine. A Queue has any number of producers and one
// consumer.
package forward
