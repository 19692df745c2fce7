// Package result is the model of one bench run, shared by every scenario:
// run metadata, named metrics with units, latency distributions, time
// series, throughput-against-load sweeps, resource usage of the load
// generator and of the servers, and pass/fail checks. It is what --out
// writes as JSON and what the report, compare and slo packages read.
package result
