// Package controlplane is the REST control plane: the /v1 API (package
// api, over the services that hold the rules: access, space, join,
// moderation, analytics), its OpenAPI document
// and Swagger UI (package openapi), health probes, and the room page
// mounted under /room/ and /assets/. New wires the parts from a Config and
// explicit Deps; Run serves on a listener the caller owns, keeps this
// replica's caches in step with the other replicas' changes (the store's
// change notifications) and drains on cancellation: not ready at once,
// still serving for the drain delay, then finishing what is in flight.
package controlplane
