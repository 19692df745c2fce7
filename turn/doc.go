// Package turn is Spacecast's built-in TURN/STUN server on pion/turn, started
// by every edge and by spacecast dev, and runnable alone. It also owns the
// TURN REST API credential scheme (time-limited HMAC credentials derived from
// a shared cluster secret) that control planes and edges use to hand
// credentials to participants (Credential, ICEServers).
//
// The caller owns the sockets: Listen opens them from a Config (several
// SO_REUSEPORT UDP sockets, TCP, TLS), New takes them with the TURN secrets,
// Run serves until its context ends, Close stops it.
//
// pion/turn handles the TURN control protocol (RFC 8656: allocations,
// permissions, channels, refreshes). Around it this package adds what a
// public deployment needs:
//   - credentials verified against every cluster TURN secret (rotation);
//   - a relay policy refusing loopback, private, link-local, multicast,
//     unspecified and cloud-metadata peers unless allowed (403 Forbidden,
//     and checked again on every packet sent to a peer);
//   - a per-identity allocation quota, a per-allocation bandwidth cap and a
//     maximum allocation lifetime;
//   - Prometheus metrics (no per-packet logging);
//   - its own data path for channel traffic of UDP clients (poller_linux.go):
//     per-socket epoll loops with recvmmsg/sendmmsg, no allocation per
//     packet, never entering pion.
//
// The data path is Linux-only (epoll, recvmmsg, sendmmsg).
package turn
