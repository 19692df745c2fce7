// Package loopbridge makes services listening on the root namespace's
// loopback reachable at the same loopback addresses from inside bench
// hosts (network namespaces). The LiveKit SDK never gathers loopback
// candidates, so the bench's participants live in namespaces of their own;
// with the bridge, a deployment on 127.0.0.1 (`spacecast dev`) still works
// there unchanged: inside a host, ws://127.0.0.1:7880 and the edge's ICE
// candidate 127.0.0.1:7882 reach sockets this process opened in the host,
// and the bridge relays them to 127.0.0.1 in the root namespace. TCP is
// accepted and copied both ways (half-closes passed on); UDP goes through
// a small NAT table, one root-namespace socket per source address inside a
// host whichever port it talks to, forgotten after an idle time, so the
// servers see each of the host's sockets as one peer of its own. With
// KeepSource that socket is bound to the source's own address and port
// (the host's address mirrored into the root namespace), so the servers
// see exactly the address the host's programs advertise. A host can be
// paused (fault injection): its UDP is dropped both ways and its TCP bytes
// are held until it resumes, as a link that is down would do. The cost is
// one userspace hop per packet, in this process.
package loopbridge
