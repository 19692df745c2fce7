// Package gossip is the edge fleet's membership on hashicorp/memberlist: every
// edge and control-plane node is a member, gossip is encrypted with a keyring
// that rotates without restart, and every node carries metadata (role,
// region, public addresses, media and relay addresses, load, draining flag,
// version).
//
// On top of membership the package carries two replicated data sets: the room
// directory (which edge hosts which room and publishes which tracks there)
// and revocations (participants, users and tokens that must not join again).
// Both travel as memberlist broadcasts and are part of memberlist's full-state
// push/pull, so they converge after joins, restarts and healed partitions.
//
// A fleet over several regions runs a pool per region (fast, lan timing)
// plus a WAN pool (wan timing) that a few nodes of each region join, on a
// port of their own (Config.WAN); those nodes relay metadata, the room
// directory and revocations between the pools, and publish listings from
// which every node computes the other regions' alive nodes (relay.go,
// wan.go). Nodes shows the whole fleet either way.
//
// A Node is built with New (which starts nothing), runs with Run (which binds
// nothing either: the caller passes the UDP sockets and TCP listeners, see
// Listen) and stops with Close. Readers use Nodes, Member, RelayAddr, Hosts,
// Revoked and Subscribe; the owner of the node announces itself with
// UpdateMeta, SetLoad, SetDraining, SetRoom and RemoveRoom.
package gossip
