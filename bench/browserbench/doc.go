// Package browserbench is the browser scenario of `spacecast bench`: it
// judges media the way a person would. A publisher and a subscriber run in
// headless Chromium through livekit-client (pages embedded here, the SDK's
// UMD bundle served beside them), each in a network namespace on a
// throwaway bridge (internal/netns); the publisher sends its fake camera
// at 720p and 30 fps in simulcast (180p/360p/720p) and its microphone,
// the subscriber joins after a settle time, asks for the high layer and
// shows the video in a visible element. From the pages' getStats() every
// second it reports freezes, fps, resolution, time to first frame, loss,
// NACKs, PLIs, retransmissions and audio concealment; from the
// publisher's, each layer's rate and its qualityLimitationReason.
//
// A tap (an AF_PACKET socket on the bridge in the root namespace) reads
// the RTP headers, which SRTP leaves in the clear, of what the server
// sends towards the subscriber — before the shaper on the subscriber's
// veth can drop any of it — and of what the publisher sends: per SSRC the
// packets, the padding bit, sequence holes at first sight and whether
// they were filled, retransmissions on the media SSRC and on RTX. The
// subscriber's downlink can be capped with tbf, for the whole run or on a
// schedule; the shaper's drops and the share of the cap used are
// reported per phase.
//
// Run is the library: one call against a Target (a LiveKit-protocol URL
// in 198.18.0.0/15 and the key that signs its tokens), or against a
// server it starts on its bridge through Config.Start (StartOurs,
// StartLiveKit). Bench is the command's scenario: several servers side by
// side, each started afresh before each of its runs, runs interleaved,
// medians through bench/result. Everything needs root; everything a run
// makes (namespaces, bridge, qdisc, processes, files) is gone when it
// returns.
package browserbench
