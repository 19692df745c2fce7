// Package simulcast chooses which simulcast layer each subscriber receives.
//
// A Selector, one per subscriber and video track, combines the layers the
// publisher announced (with their measured bitrates, see Rate), what the
// subscriber asked for (a livekit.VideoQuality or a width/height from
// UpdateTrackSettings, or disabled) and the bandwidth the subscriber's
// estimator grants the track, with hysteresis so the choice does not flap.
// Demand counts, per published track, what its subscribers want, so the edge
// can tell the publisher which layers nobody watches (SubscribedQualityUpdate).
// Allocator splits one subscriber's bandwidth estimate across its tracks,
// screen shares and the active speaker first.
//
// Everything here is plain computation on values the caller passes in: no
// goroutines, no clocks of its own (times are nanoseconds on the caller's
// monotonic clock), no allocation on the per-packet path (Rate).
package simulcast
