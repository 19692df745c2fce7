// Package roomsbench is the rooms scenario of `spacecast bench`: the user
// path under load. Through the REST API it makes a user, a space, rooms
// and one single-use link per participant; agent processes (each running
// many simulated participants, see package participant) redeem the links
// at the control plane's join endpoint and connect to the edge they are
// given, publish and subscribe; the agents report JSON lines that this
// package turns into join latency, loss, jitter, bitrate and one-way delay.
// In a self-contained run it starts a control plane and an edge on a
// bridge of a throwaway network (internal/netns) and runs each agent in a
// namespace of its own, because the LiveKit SDK ignores loopback
// addresses. Against a Target on this machine's loopback (`spacecast dev`)
// the agents run in namespaces too, and a loopback bridge (package
// loopbridge) makes the deployment's 127.0.0.1 ports reachable at the same
// addresses inside each of them; the server process is read from /proc. A
// join storm is the same scenario with every participant joining within a
// short window; a cut (an agent's link down for a while)
// injects packet loss that the report must show.
//
// With LiveKitURL the same participants skip the control plane: tokens are
// minted here (livekit/protocol/auth, key and secret from the environment)
// and the agents connect straight to any LiveKit-protocol server —
// livekit-server or a spacecast edge — listening on an address of this
// machine in 198.18.0.0/15, so that both are measured identically. The
// server's process (given, or found by its listening port) is read from
// /proc in the run's steady phase for CPU-µs per forwarded packet and RSS
// per subscriber.
//
// With Regions it is the multi-region scenario: each room's publishers and
// subscribers are placed in regions and join with the region as their hint.
// Self-contained, it starts a control plane and each region's edges as
// spacecast processes in namespaces of their own, shapes the links between
// the regions' servers (package bench/impair for delay, jitter and loss; htb
// for rate) and reports, per publisher region → subscriber region, one-way
// delay, join → first remote media, loss and the bytes on the relay links
// (the edges' relay metrics); against a Target, the fleet's own regions.
package roomsbench
