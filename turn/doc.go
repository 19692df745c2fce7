// Package turn is Spacecast's built-in TURN/STUN server on pion/turn, started
// by every edge and by spacecast dev, and runnable alone. It accepts the
// TURN REST API credentials of internal/turncred (time-limited HMAC
// credentials derived from a shared cluster secret, which control planes
// and edges mint for participants), and says which URLs reach it (URLs).
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
//   - on Linux, its own data path for channel traffic of UDP clients
//     (listener_linux.go, poller_linux.go): per-socket epoll loops with
//     recvmmsg/sendmmsg (internal/udpbatch), no allocation per packet,
//     never entering pion.
//
// Elsewhere (and on Linux when a test asks) the portable data path serves
// (portable.go): pion's own loops read the client and relay sockets, with
// the same policy, quotas, caps and counters, one wake-up and a few
// allocations per packet. Each UDP socket's data path is a clientSock
// (datapath.go).
package turn
