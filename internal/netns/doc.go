// Package netns makes throwaway test networks out of Linux network
// namespaces: a bridge in the root namespace with an address from the RFC
// 2544 benchmarking range (198.18.0.0/15), and any number of hosts, each a
// namespace joined to the bridge by a veth pair, with no default route. Code
// that must not use loopback (LiveKit's Go SDK, Chromium) runs inside a host
// through Host.Command; servers in the test process listen on the bridge's
// address. Host.ListenTCP and Host.ListenPacket open sockets inside a host
// for this process to serve (a bridge from the host's loopback to the root
// namespace's, say). Nothing can leave for any other address. Requires
// root and ip(8).
package netns
