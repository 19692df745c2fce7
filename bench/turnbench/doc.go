// Package turnbench is the `spacecast bench turn` scenario: it opens many
// allocations on a TURN server (ours or coturn started as a child process,
// or any running server that takes TURN REST credentials), binds a channel
// from each to a UDP peer of its own, relays traffic both ways at
// increasing offered rates, and reports delivered packets/s at each rate
// and at saturation, the server's CPU time per relayed packet (from
// /proc/<pid>/stat or the server's Prometheus endpoint), the generator's
// own CPU (so a run limited by its generator says so), loss and allocation
// latency, as a bench/result for the harness. Several targets
// (ours,coturn) are measured one after the other and compared.
package turnbench
