// Package placement decides which edge a participant joins: the region (from
// an explicit hint, from RTTs the client measured, from a CIDR map, else the
// default), then within the region an edge already hosting the room, else the
// least loaded one, never a draining, dead or full node.
//
// The Placer interface is what the control plane's join endpoint calls. Static
// serves a single known edge (spacecast dev, one-box deployments); Gossip
// serves a fleet from a gossip node's view and room directory. Choose is the
// pure decision both rest on, and Regions is the region list with probe URLs
// that clients measure.
package placement
