// Package ha holds the multi-process tests of a control plane with
// several replicas: `spacecast controlplane` processes on one throwaway
// PostgreSQL server (internal/pgtest), a `spacecast edge` reporting to
// them, participants on the edge's signalling, and a webhook receiver
// that drops events it has seen by their id, as the docs tell integrators
// to. It checks what the service promises when a replica dies: one truth
// across replicas (single-use links, signing keys), and webhooks that lose
// nothing (kill -9 the replica that is delivering: each event still
// arrives once), with the call in the analytics.
package ha
