package codec

import "strings"

// Kind is the codec of a track, as far as the media path cares.
type Kind uint8

// Codec kinds.
const (
	Unknown Kind = iota
	Opus
	VP8
	VP9
	H264
	AV1
	RED // audio redundancy (RFC 2198), treated as audio
)

// String returns the codec name.
func (k Kind) String() string {
	switch k {
	case Opus:
		return "opus"
	case VP8:
		return "vp8"
	case VP9:
		return "vp9"
	case H264:
		return "h264"
	case AV1:
		return "av1"
	case RED:
		return "red"
	}
	return "unknown"
}

// IsVideo reports whether k is a video codec.
func (k Kind) IsVideo() bool { return k == VP8 || k == VP9 || k == H264 || k == AV1 }

// KindFromMime maps a MIME type such as "video/VP8" (pion's
// RTPCodecCapability.MimeType) to a Kind. Matching is case-insensitive.
func KindFromMime(mime string) Kind {
	_, sub, ok := strings.Cut(mime, "/")
	if !ok {
		sub = mime
	}
	switch {
	case strings.EqualFold(sub, "opus"):
		return Opus
	case strings.EqualFold(sub, "vp8"):
		return VP8
	case strings.EqualFold(sub, "vp9"):
		return VP9
	case strings.EqualFold(sub, "h264"):
		return H264
	case strings.EqualFold(sub, "av1"):
		return AV1
	case strings.EqualFold(sub, "red"):
		return RED
	}
	return Unknown
}

// IsKeyframe reports whether payload (the RTP payload, after the RTP header
// and without padding) is the first packet of a keyframe for codec k: a point
// where a decoder can start, hence where a forwarder may switch layers.
// Audio codecs have no keyframes and always report true.
func IsKeyframe(k Kind, payload []byte) bool {
	switch k {
	case VP8:
		d, err := ParseVP8(payload)
		return err == nil && d.Keyframe
	case VP9:
		d, err := ParseVP9(payload)
		return err == nil && d.Keyframe
	case H264:
		return H264Keyframe(payload)
	case AV1:
		return AV1Keyframe(payload)
	case Opus, RED:
		return true
	}
	return false
}
