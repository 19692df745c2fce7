// Package fleet holds the multi-host test of the edge fleet: a control
// plane and three edges in two regions, each its own `spacecast` process in
// its own network namespace with its own address (a bridge and veth pairs
// the test creates and removes), joined by gossip as in a fleet over
// regions: a pool per region and the WAN pool (every node has a wan
// section; the control planes and region a's edges are in the WAN pool,
// and so is edge-b1, region b's only edge). It kills an edge, cuts
// one off the network and heals it, restarts one and drains one, and
// checks through the REST API what an integrator would see: placement by
// region and load, sticky rooms, failover of participants, revocations on
// every edge, the room directory converging after the partition heals.
// TestMetricsOfEveryRole scrapes every role's /metrics (a control plane,
// an edge in each of two regions, a TURN server alone) after a call and
// checks the families, their region and node labels, and that the shipped
// dashboard and alert rules query only metrics that are served.
// TestRemovalAcrossRegions removes a participant on one region's edge
// from another region's edge (its RoomService) and through the REST API,
// and checks that it stays out.
package fleet
