// Package load drives an operation at a concurrency (closed loop: each
// worker starts its next call when the last one ends) or at a fixed rate
// (open loop: calls are scheduled on a clock and their latency counts from
// the scheduled time, so a stalled server cannot hide its queueing, the
// "coordinated omission" trap). It records latencies in per-worker
// histograms and throughput per second.
package load
