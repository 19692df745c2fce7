// Package occupancy is the contract between an edge and the control plane
// for room occupancy: the Batch an edge sends (the participant count and
// sessions of each room that changed, or its whole state), its strict
// decoding and limits (Decode, Validate), the bearer token that
// authenticates one batch with a cluster LiveKit API key (Sign, Verify),
// the control plane's endpoint (Path), and Sink, what takes batches in one
// process.
//
// The edge's Reporter produces batches and the control plane's call
// tracker consumes them; each imports this package, neither the other.
package occupancy
