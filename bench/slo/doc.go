// Package slo parses service-level objectives given on the command line,
// such as "join_p99<500ms,loss<1%", and checks a result against them. A
// broken objective makes the bench command exit non-zero, so CI can gate a
// release on it. Names are result metric names (see result.Lookup); values
// carry units that must fit the metric's (a time for a latency, a
// percentage for a loss).
package slo
