// Package webhook delivers a space's events to its webhook (the
// `/v1/spaces/{spaceId}/webhook` subscription) and works out, from the
// edges' room-state reports, when calls start and finish.
//
// Deliverer POSTs {"signature": hex(HMAC-SHA256(secret, body)), "body": body}
// to the space's URL, where body is the JSON event {eventName, roomId,
// spaceId, recordId?} and the signature covers exactly the bytes of body as
// sent (see Envelope and Verify). Deliveries go through bounded queues (a
// full queue drops and counts, never blocks) to a fixed pool of workers,
// shared fairly between tenants (API clients): a tenant has at most
// PerTenant deliveries in flight and its own bounded queue, so one
// tenant's slow or dead receiver cannot hold the workers of the others;
// one room's events stay in order. An attempt is bounded by Timeout (the
// whole exchange, body included), an event by DeliveryTimeout (every
// attempt and wait). Network errors, 5xx and 429 are retried (3 times by
// default, exponential backoff with jitter), then dropped and counted;
// other answers are final. Errors are logged without the webhook URL's
// query (it may hold the receiver's secret). The dialer refuses loopback, private,
// link-local (cloud metadata) and other non-public addresses unless the
// configuration allows them, checked on the resolved address at connect
// time so that DNS rebinding cannot get round it.
//
// Calls keeps, per room, the set of edges that have participants in it
// (several edges may host one room): call_started when the set stops being
// empty, call_finished when it has been empty for FinishGrace. Edges feed it
// through Handler (POST /internal/v1/edge-events, batches of edge/report
// authenticated with a cluster key) or, in one process, directly as an
// edge/report Sink.
package webhook
