// Package signal frames LiveKit signalling over a WebSocket: it decodes
// SignalRequest messages (binary protobuf, or JSON text) with a size cap and
// basic validation, and writes SignalResponse messages from a bounded queue
// with a write deadline, so a slow client never blocks the room that talks
// to it.
package signal
