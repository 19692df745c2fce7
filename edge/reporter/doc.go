// Package reporter carries an edge's room occupancy to the control plane,
// which turns it into call_started / call_finished webhooks
// (controlplane/webhook).
//
// A Reporter is a room.Observer: the edge's goroutines tell it who joined and
// left, it keeps each room's participant count and queues the changes in a
// bounded queue (never blocking the caller; an overflow is counted and heals
// with a full snapshot). Run sends the changes in batches (the
// internal/occupancy format) to an occupancy.Sink with
// retries, and every SnapshotInterval the edge's whole state, which doubles
// as a heartbeat: the control plane forgets an edge it has not heard from.
//
// The same batches carry the state of the recordings the edge makes
// (RecordChanged, from edge/recorder): each change once, and every
// recording in every snapshot until a batch with its final state was
// taken, so the control plane (record_started, record_finished,
// record_failed) hears the end of a recording even after a lost batch,
// and tells a recording the edge lost (its restart) by its absence.
//
// Client is the Sink that POSTs batches to a control plane's
// /internal/v1/edge-events, authenticated by a short-lived JWT signed with
// one of the cluster's LiveKit API keys (occupancy.Sign); the control plane
// checks it with occupancy.Verify. In one process (spacecast dev) the control plane's tracker is
// the Sink itself and no HTTP is involved.
package reporter
