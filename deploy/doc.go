// Package deploy holds no code: its tests check what operators copy from
// this folder. The Kubernetes manifests decode strictly into the
// Kubernetes API's own types and refer only to what they define; the
// Prometheus alert rules and scrape configuration pass promtool's checks
// and the rules' unit tests; the Grafana dashboard's queries parse; the
// Dockerfile builds where a Docker engine runs.
package deploy
