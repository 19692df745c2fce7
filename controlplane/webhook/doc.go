// Package webhook delivers a space's events to its webhook (the
// `/v1/spaces/{spaceId}/webhook` subscription) and works out, from the
// edges' room-state reports, when calls start and finish.
//
// Nothing of it lives in one replica's memory. Calls applies each edge
// batch to the store in one transaction (store.Calls): the call that
// starts is written together with its call_started delivery, the call that
// finishes (found by a sweep every replica runs) with its call_finished: a
// transactional outbox (store.Deliveries). Edges may report to any
// replica; several edges may host one room (one call); a stale or
// repeated batch changes nothing.
//
// Every replica runs a Deliverer. It claims due deliveries from the outbox
// for one attempt each under a lease (woken by the store's change
// notifications, polling as a fallback); a replica that dies mid-attempt
// leaves its lease to run out and another replica makes the attempt: the
// receiver may then see an event twice, with the same event id, which it
// drops. Claims hand out only the first pending delivery of a room (a
// room's events go in order) and at most PerTenant deliveries of one
// tenant (API client) in flight across all replicas, so a tenant's slow or
// hanging receiver holds at most that many workers and delays no other
// tenant. Network errors, 5xx and 429 are retried with exponential backoff
// within the retry window (DeliveryTimeout); other answers are final. The
// delivery log (status, attempts, last error) stays in the store for Keep.
//
// A delivery POSTs {"signature": hex(HMAC-SHA256(secret, body)), "body":
// body}, the reference's format, where body is the JSON event {eventName,
// roomId, spaceId, recordId?} and the signature covers exactly its bytes
// (Envelope, Verify); headers carry the event id (the same on every
// attempt and redelivery), the delivery id, a timestamp, and a second
// signature over the event id, the timestamp and the body (HeaderSign,
// VerifyHeaders), so a receiver can refuse replays. Errors are logged
// without the webhook URL's query (it may hold the receiver's secret). The
// dialer refuses loopback, private, link-local (cloud metadata) and other
// non-public addresses unless the configuration allows them, checked on
// the resolved address at connect time so that DNS rebinding cannot get
// round it.
//
// Edges feed Calls through Handler (POST /internal/v1/edge-events, batches
// of internal/occupancy authenticated with a cluster key) or, in one
// process, directly as an occupancy.Sink.
package webhook
