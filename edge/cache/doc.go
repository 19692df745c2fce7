// Package cache keeps the recent RTP packets of one published track (one
// simulcast layer, one SSRC) so the edge can answer a subscriber's NACK
// (RFC 4585 §6.2.1) without asking the publisher.
//
// A Cache is a fixed ring of preallocated slots indexed by extended sequence
// number (the 16-bit RTP sequence number unwrapped across 65535 → 0), so
// storing and fetching allocate nothing: Get copies into the caller's buffer,
// as Galène's packet cache does. It also remembers where the newest keyframe
// starts, so a new subscriber or a layer switch can be served from the cache.
//
// Threading: one goroutine stores (the track's reader); any number of
// goroutines may Get concurrently. Each slot has its own mutex, so a reader
// only ever waits for the copy of the one packet it wants.
package cache
