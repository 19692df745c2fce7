// Package udpbatch moves UDP datagrams between the process and the kernel
// in batches: many datagrams to many destinations in one sendmmsg(2), a
// run of equal-sized datagrams to one destination as one segmented write
// (UDP GSO, UDP_SEGMENT), many datagrams in one recvmmsg(2). That is its
// one job; what to batch and when is its callers' (edge/mmsg holds the
// edge's fan-out back, turn's poller drains its sockets).
//
// A Batch is a set of message slots that one goroutine fills in place
// (Next, then Commit) with datagrams and their netip destinations; a Conn
// sends a Batch on one *net.UDPConn and reports what happened (Result),
// never allocating per packet. A run of datagrams to one destination
// whose sizes are equal (the last may be shorter) leaves as one segmented
// message while the socket takes them; a path that refuses them turns
// segmentation off for the Conn and the run goes out packet by packet.
//
// On Linux a Send is one sendmmsg(2) call for the whole batch (more only
// when the kernel takes part of it), waiting through Go's netpoller when
// the socket buffer is full. Elsewhere a Send writes one datagram at a
// time through the net.UDPConn (Batched reports which): slower, the same
// behaviour.
//
// For callers that run their own poll loop on raw non-blocking sockets
// (the TURN server's epoll data path), the Linux build also has the
// file-descriptor calls: Recv (recvmmsg), SendFD (sendmmsg), SendToFD
// (sendto with a prepared Sockaddr). They do not exist on other systems,
// where such a loop does not either.
package udpbatch
