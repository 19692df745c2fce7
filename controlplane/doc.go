// Package controlplane is the REST control plane: the /v1 API of
// reference/api-compat.md (package api, over the services that hold the
// rules: access, space, join, moderation), its OpenAPI document and
// Swagger UI (package openapi), health probes, and the room page mounted
// under /room/ and /assets/. New wires the parts from a Config and
// explicit Deps; Run serves on a listener the caller owns and drains on
// cancellation.
package controlplane
