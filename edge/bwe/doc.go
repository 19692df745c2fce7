// Package bwe is send-side bandwidth estimation for one subscriber
// connection: transport-wide congestion control feedback
// (draft-holmer-rmcat-transport-wide-cc-extensions-01) turned into a target
// bitrate by a Google Congestion Control estimator (draft-ietf-rmcat-gcc-02,
// as libwebrtc's goog_cc refines it), with probing to find headroom. It is
// pure computation: no goroutines, no clock of its own (every time is
// nanoseconds on the caller's monotonic clock, passed in), no allocation per
// packet.
//
// # The model
//
// The edge numbers every packet it sends to the connection with a
// transport-wide sequence number and tells the Estimator (Sent: number,
// size, send time, probe cluster). The receiver reports, every 50–100 ms,
// which numbers arrived and when, on its own clock (transport-cc feedback).
// Feedback decodes those reports (run-length and status-vector chunks,
// one- and two-bit symbols, small and large receive deltas, the 24-bit
// reference time, wrapping sequence numbers) and matches them with the send
// history, once per packet: a repeated, overlapping or reordered feedback
// counts only what is new in it, and a packet first reported lost and then
// received counts as received.
//
// From the matched packets:
//
//   - Delay-based (§5): packets are grouped into 5 ms send bursts; the
//     growth of the one-way delay from group to group is accumulated,
//     smoothed and fitted by a line over the last 20 groups (the trendline
//     filter); the over-use detector compares the slope with a threshold
//     that adapts between 6 and 600 ms (§5.4) and signals over-use, normal
//     or under-use. Over-use is signalled once the slope has been over the
//     threshold for 10 ms and two groups (§5.4) and its excess over the
//     threshold, integrated over that time, is large enough (a slope far
//     over it at once, or a little over it for 150 ms): delay jitter with
//     no queue behind it (Wi-Fi) crosses the threshold only briefly.
//   - Acknowledged bitrate: what arrived, over the last half second of
//     arrival times.
//   - AIMD rate control (§5.5): on over-use the rate drops to 0.85× the
//     acknowledged bitrate (again each RTT while over-use lasts); on
//     under-use it holds; otherwise it grows by 8 %/s, or by about one
//     packet per response time when near the rate at which over-use began
//     last; never beyond 1.5× the acknowledged bitrate.
//   - Loss-based (§6): over roughly the last second, more than 10 % lost
//     cuts the rate to rate·(1 − loss/2), less than 2 % lets it grow.
//
// The target is the lower of the two, within [Config.Min, Config.Max].
//
// # Probing
//
// The rate grows slowly on its own and never beyond 1.5× what is sent, so
// a subscriber held on a low layer could never learn that the path now
// carries a higher one. Probes are short clusters of padding at a chosen
// rate (at least 5 packets and 15 ms); the rate at which the cluster
// arrived (at least 80 % of it must), read from its feedback as libwebrtc's
// ProbeBitrateEstimator does, lifts the estimate at once when it is higher;
// a failed probe lowers nothing. A lift stays unconfirmed until the path
// has carried traffic near it: over-use before then takes it back, to
// the estimate before the lift or to what the path carried meanwhile
// without queueing, whichever is higher (a caller sending less than the
// lift never confirms it). Clusters are created:
//
//   - at start: 3× and 6× Config.Initial;
//   - while the caller wants more than the estimate (WantProbe) and the
//     estimate has been stable (no decrease or over-use) for a second: 2×
//     and 3× the estimate, capped 10 % above what the caller wants; after a
//     failed probe the wait doubles up to Config.ProbeInterval, so a caller
//     in the application-limited region (sending less than the estimate
//     because its layers are smaller) probes at least that often; a new,
//     higher wish right after a success probes at once (an allocator climbs
//     a layer at a time);
//   - straight after a success that reached 70 % of its target, at 2× and
//     3× the result (exponential probing up to what the caller wants);
//   - after a large drop (below 2/3 of the rate before it), once the path
//     is quiet again within 5 s: at 85 % of the rate before the drop.
//
// There is no pacer thread: the sender asks NextProbe, whenever it has just
// drained its queue, how many padding bytes are due now (the cluster's rate
// times the time since it began, and until the next call as the cadence of
// past calls predicts), sends them as RTX padding
// or retransmissions, and reports each with Sent and the cluster's id.
// Media sent while a cluster is under way is measured with it (as
// libwebrtc's pacer counts the media it sends during a probe); the padding
// alone makes up the cluster's rate on top of it.
//
// # Threading
//
// Two sides, which may run concurrently:
//
//   - The sender side: Sent and NextProbe. Their calls must not overlap:
//     one goroutine, or one at a time with a happens-before edge between
//     them (as the sink's drain flag gives). Sent takes no lock and
//     allocates nothing: the send history is a ring of slots indexed by
//     sequence number, each one atomic word (number, size, cluster, send
//     time in µs) that the feedback side loads whole.
//     NextProbe takes a lock only when new clusters were queued.
//   - The feedback side: Feedback, FeedbackBytes, Estimate, Stats and
//     WantProbe, serialised by one mutex among themselves; any goroutine
//     may call them.
//
// No method calls back into the caller or blocks beyond that mutex.
package bwe
