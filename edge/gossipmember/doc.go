// Package gossipmember makes an edge a member of the gossip cluster. A
// Member listens to the edge's room events (it is a room.Observer) and keeps
// the cluster's room directory current with the rooms, participants and
// tracks this edge hosts; it publishes the edge's load (CPU, participants,
// tracks) in its gossip metadata, so that the control plane's placement sees
// it; and it answers the edge's revocation check from the revocations the
// control plane gossips (a participant a moderator removed cannot come back
// through any edge with the media token it held). WatchMediaPeers keeps the
// embedded TURN server's peer list equal to the media addresses that every
// edge of the fleet, in every region, advertises in its gossip metadata
// (PeerMedia is what an edge advertises).
//
// The edge package itself knows nothing of gossip: cmd/spacecast wires a
// Member between an edge.Edge and a gossip.Node.
package gossipmember
