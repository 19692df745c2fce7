// Package mmsg is the edge's media socket: a net.PacketConn over the one
// ICE UDP socket that can hold writes back and send them together with a
// single sendmmsg(2).
//
// An SFU's fan-out turns one incoming packet into one outgoing packet per
// subscriber, and pion writes each of them with its own sendto(2). Between
// Hold and Release (the room's fan-out loop brackets itself with them),
// WriteTo copies the packet into a batch instead; the batch leaves when the
// last holder releases or when it is full (Capacity packets). Writes made
// while nobody holds go straight out, so ICE, DTLS and RTCP traffic outside
// a fan-out is never delayed, and traffic inside one waits at most for the
// rest of that fan-out.
//
// When a batch holds a run of packets for one destination whose sizes are
// equal (the last may be shorter) — a video frame's packets for one
// subscriber, which the room fans out back to back — the run goes out as
// one segmented write (UDP GSO, UDP_SEGMENT): the kernel then walks its
// stack once for the run, not once per packet, and the receiver still gets
// one datagram per packet. A path that refuses segmented writes turns them
// off for the Conn. The system calls and the grouping into runs are
// internal/udpbatch's; off Linux it writes one packet at a time, and the
// Conn behaves the same.
//
// The Conn also counts what it sends (bytes, packets, system calls), which
// the edge advertises as its bandwidth and exports to Prometheus.
package mmsg
