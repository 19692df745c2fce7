// Package relay is the media transport between two edges: one QUIC
// connection per pair of edges that share rooms, multiplexing every room and
// track between them.
//
// What travels. RTP packets go in unreliable QUIC datagrams (RFC 9221), each
// behind a 6-byte header that names the subscriber's channel (one relayed
// track) and the simulcast layer; a lost datagram is repaired end to end by
// NACK, like a lost packet from a publisher. Everything else goes in order
// on one bidirectional control stream that the dialing edge opens:
// subscribe and unsubscribe (room, track, layers), demand updates (which
// layers the subscribing edge needs now), keyframe requests (PLI/FIR) and
// NACKs upstream, the origin's sender reports and layer states downstream,
// refusals, and application messages (Send, Config.OnMessage) that the room
// layer uses for its own state.
//
// Who pulls from whom. A subscription is made by the edge that needs a track
// (Relay.Subscribe) towards an edge that has it (the origin, or an edge
// that relays it: the relay does not tell them apart), which serves it
// through Config.Origin; LinkStats.Served counts what a peer pulls here. Either edge may dial; when both do, the
// connection dialed by the edge with the smaller node id wins and the other
// is closed, so both ends agree on one connection. The subscribing side
// keeps what it wants and states it again on every new connection, which is
// how a restarted or reconnected peer is resumed.
//
// Idle links. Each side tells the other, on the control stream, whether it
// wants anything of the link (a subscription or a Hold); a link that
// neither side wants and that serves nothing for Config.LinkIdle closes,
// and is dialed again when something is wanted.
//
// Trust. Both ends authenticate with certificates from a cluster CA that
// every member derives from the cluster's shared keys (Identity): the CA's
// Ed25519 key is HKDF-SHA256 of a key of the keyring, so nothing but the
// keyring has to be distributed, and each edge issues itself a short-lived
// leaf certificate naming its node id. An endpoint without the keyring can
// neither complete a handshake nor read or inject a packet (QUIC encrypts
// and authenticates every datagram with the handshake's keys). Membership is
// all or nothing, as for gossip: a holder of the keyring can issue a
// certificate for any node id. Rotation follows the keyring: every key's CA
// is trusted, the first key's CA issues.
//
// Congestion is contained per link: the origin's fan-out copies a packet into
// the link's bounded send ring (never blocking, a full ring drops and
// counts), and one goroutine per link hands the ring to QUIC, whose
// congestion controller paces it; a slow link never slows local forwarding
// or another link.
//
// Threading: every method of Relay, Subscription and the Sender given to an
// Origin is safe for concurrent use. The callbacks (Handler, Origin, Feed,
// OnMessage) run on a link's goroutines and must not block.
package relay
