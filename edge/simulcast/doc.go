// Package simulcast chooses which layers each subscriber receives.
//
// An Allocator, one per subscriber, chooses a Pick (a simulcast layer and
// how many of its temporal layers) for each of the subscriber's video
// tracks from its bandwidth estimate: the layers the publishers announced
// with their measured bitrates (see Rate), what the subscriber asked for
// (a livekit.VideoQuality or a width/height from UpdateTrackSettings, or
// disabled), each track's priority (screen shares, then the active
// speaker, then the others), with hysteresis so the choice does not flap:
// down at once (after a short grace when the shortfall is small), up only
// after the headroom has lasted. A track that not
// even its lowest layer fits is paused. Demand counts, per published
// track, what its subscribers request, so the edge can tell the publisher
// which layers nobody watches (SubscribedQualityUpdate, dynacast).
//
// Everything here is plain computation on values the caller passes in: no
// goroutines, no clocks of its own (times are nanoseconds on the caller's
// monotonic clock), no allocation on the per-packet path (Rate).
package simulcast
