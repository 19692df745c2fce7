// Package turnbench is the TURN load generator behind `spacecast bench turn`:
// it opens many allocations on a TURN server (ours, coturn, any that takes
// TURN REST credentials), binds a channel from each to a UDP peer of its
// own, relays traffic both ways at increasing rates, and reports delivered
// packets per second at saturation and the server's CPU time per relayed
// packet, read from /proc/<pid>/stat.
package turnbench
