// Package metrics holds the control plane's Prometheus metrics: HTTP
// requests by route pattern and status, joins by outcome and edge region,
// placement decisions, store operation latency, token issues and
// rate-limit refusals. Every label has a bounded set of values (route
// patterns, never raw paths; no room, participant, client or user), so the
// number of series does not grow with use. The region and node of the
// replica itself are constant labels the registerer adds.
package metrics
