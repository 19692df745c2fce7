// Package usage samples CPU and memory of the processes a bench run
// involves: the load generator itself and the servers under test, read
// from /proc when they run on this machine or from their Prometheus
// endpoint (process_cpu_seconds_total, process_resident_memory_bytes) when
// they do not, plus how busy the whole machine is. It tells whether a run
// was limited by its own generator.
package usage
