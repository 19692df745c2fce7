// Package gossipview connects the control plane to the gossip cluster of edges
// and replicas. It answers, from what this replica's gossip node sees:
// which edges host a room (a RoomLocator for moderation calls), which
// regions exist and where clients probe them (the region list of the join
// flow), and it spreads moderators' removals as gossiped revocations, so
// that every replica refuses the removed participant's old credentials and
// every edge its old media token.
//
// Placement itself is placement.Gossip over the same node.
package gossipview
