// Package browserbench is the browser scenario of `spacecast bench`: it
// judges media the way a person would. A publisher and one or more
// subscribers run in headless Chromium through livekit-client (pages
// embedded here, the SDK's UMD bundle served beside them), each in a
// network namespace on a throwaway bridge (internal/netns); the publisher
// sends its fake camera at 720p and 30 fps in simulcast (180p/360p/720p)
// and its microphone, the subscribers join after a settle time, ask for
// the high layer and show the video in a visible element. From the
// pages' getStats() every second it reports, per subscriber, freezes,
// fps, resolution, time to first frame, loss, NACKs, PLIs,
// retransmissions and audio concealment; from the publisher's, each
// layer's rate and its qualityLimitationReason.
//
// Each subscriber has a Link of its own: its downlink capped with tbf on
// the root namespace's end of its veth (for the whole run or on a
// schedule), a random share of its incoming UDP dropped (iptables'
// statistic match in its namespace), and its incoming UDP delayed with
// jitter by a userspace relay in its namespace (TPROXY to a transparent
// socket that sends each datagram on, late, from the server's own
// address). The shaper's drops, the share of the cap used, the time to
// smooth playback after a cap drop and back to 720p after a rise are
// reported per subscriber.
//
// A tap (an AF_PACKET socket on the bridge in the root namespace) reads
// the RTP headers, which SRTP leaves in the clear, of what the server
// sends towards each subscriber — before anything on its link can drop
// or delay it — and of what the publisher sends: per SSRC the packets,
// the padding bit, sequence holes at first sight and whether they were
// filled, retransmissions on the media SSRC and on RTX. Our edge's own
// metrics (its bandwidth estimates, probes, retransmissions) are read
// once a second.
//
// Run is the library: one call against a Target (a LiveKit-protocol URL
// in 198.18.0.0/15 and the key that signs its tokens), or against a
// server it starts on its bridge through Config.Start (StartOurs,
// StartLiveKit). Bench is the command's scenario: several servers side by
// side (started afresh before each of their runs, or a running
// livekit-server), runs interleaved, medians through bench/result.
// Everything needs root; everything a run makes (namespaces, bridge,
// qdiscs, rules, processes, files) is gone when it returns.
package browserbench
