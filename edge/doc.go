// Package edge is Spacecast's media edge: an SFU that speaks the LiveKit
// client protocol so LiveKit's own SDKs (livekit-client, server-sdk-go) join it
// unmodified. It owns the HTTP surface (/rtc, /rtc/validate and the Twirp
// RoomService at /twirp/livekit.RoomService/), the shared pion/webrtc API (one
// UDP port through pion's ICE UDP mux, optionally one TCP port) and the room
// manager. Rooms, participants and media forwarding live in edge/room; access
// tokens are checked by edge/token; the WebSocket framing is edge/signal.
//
// The edge is embeddable: New builds it from a Config and the caller's sockets,
// Handler returns an http.Handler that another server (spacecast dev) can mount,
// Serve runs that handler on a listener, and Run blocks until the context ends.
package edge
