// Package srtpout is the edge's own SRTP write path for subscriber
// connections: it learns the keys of a connection's DTLS handshake and then
// encrypts and sends the edge's RTP itself, straight onto the media socket.
//
// pion writes each RTP packet through an interceptor chain, an SRTP session
// (a lock and a map lookup), the DTLS/SRTP demultiplexer, the ICE
// connection and its UDP mux before it reaches the socket; at an SFU's
// fan-out, where one incoming packet becomes hundreds of outgoing ones,
// that path costs about a quarter of the edge's CPU. A Sender does the one
// part of it that is needed, the encryption (with pion's srtp.Context), and
// hands the packet to the socket under the UDP mux for the selected ICE
// pair's remote address.
//
// The keys come from the handshake through two public hooks of pion's
// SettingEngine: the key log (client random and master secret, in NSS key
// log form) and the ServerHello (server random, cipher suite and the SRTP
// profile chosen). From these Keys derives the RFC 5764 keying material
// exactly as the DTLS connection's own exporter does (RFC 5705, the TLS 1.2
// PRF with the suite's hash). So each peer connection needs its own
// SettingEngine, and the edge must be the DTLS server, as it is on the
// connections it offers (clients answer setup:active). When either is not
// so, or the selected pair is not UDP, the edge stays on pion's path.
package srtpout
