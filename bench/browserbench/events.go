package browserbench

import (
	"encoding/json"
	"strings"
)

// InboundVideo is the subscriber's inbound-rtp video record as
// getStats() reports it (W3C webrtc-stats; counters are cumulative).
type InboundVideo struct {
	SSRC                         uint32  `json:"ssrc"`
	RTXSSRC                      uint32  `json:"rtxSsrc,omitempty"`
	Codec                        string  `json:"codec,omitempty"`
	FramesDecoded                float64 `json:"framesDecoded"`
	FramesDropped                float64 `json:"framesDropped"`
	FramesReceived               float64 `json:"framesReceived"`
	FramesPerSecond              float64 `json:"framesPerSecond"`
	FrameWidth                   float64 `json:"frameWidth"`
	FrameHeight                  float64 `json:"frameHeight"`
	FreezeCount                  float64 `json:"freezeCount"`
	TotalFreezesDuration         float64 `json:"totalFreezesDuration"`
	PauseCount                   float64 `json:"pauseCount"`
	TotalPausesDuration          float64 `json:"totalPausesDuration"`
	PacketsReceived              float64 `json:"packetsReceived"`
	PacketsLost                  float64 `json:"packetsLost"`
	NackCount                    float64 `json:"nackCount"`
	PliCount                     float64 `json:"pliCount"`
	FirCount                     float64 `json:"firCount"`
	RetransmittedPacketsReceived float64 `json:"retransmittedPacketsReceived"`
	RetransmittedBytesReceived   float64 `json:"retransmittedBytesReceived"`
	BytesReceived                float64 `json:"bytesReceived"`
	HeaderBytesReceived          float64 `json:"headerBytesReceived"`
	JitterBufferDelay            float64 `json:"jitterBufferDelay"`
	JitterBufferEmittedCount     float64 `json:"jitterBufferEmittedCount"`
	TotalDecodeTime              float64 `json:"totalDecodeTime"`
	KeyFramesDecoded             float64 `json:"keyFramesDecoded"`
	Jitter                       float64 `json:"jitter"`
}

// InboundAudio is the subscriber's inbound-rtp audio record.
type InboundAudio struct {
	SSRC                     uint32  `json:"ssrc"`
	Codec                    string  `json:"codec,omitempty"`
	PacketsReceived          float64 `json:"packetsReceived"`
	PacketsLost              float64 `json:"packetsLost"`
	BytesReceived            float64 `json:"bytesReceived"`
	HeaderBytesReceived      float64 `json:"headerBytesReceived"`
	ConcealedSamples         float64 `json:"concealedSamples"`
	SilentConcealedSamples   float64 `json:"silentConcealedSamples"`
	TotalSamplesReceived     float64 `json:"totalSamplesReceived"`
	ConcealmentEvents        float64 `json:"concealmentEvents"`
	JitterBufferDelay        float64 `json:"jitterBufferDelay"`
	JitterBufferEmittedCount float64 `json:"jitterBufferEmittedCount"`
	Jitter                   float64 `json:"jitter"`
}

// SubscriberSample is one second of the subscriber's stats.
type SubscriberSample struct {
	// T is seconds on the run's clock (T = 0 just before the subscriber's connect()).
	T float64 `json:"t"`
	// TS is the stats' timestamp, milliseconds since the Unix epoch.
	TS    float64       `json:"ts"`
	Video *InboundVideo `json:"video,omitempty"`
	Audio *InboundAudio `json:"audio,omitempty"`
	RTT   float64       `json:"rtt,omitempty"` // seconds, of the selected candidate pair
}

// OutboundLayer is one simulcast layer (rid) of the publisher's
// outbound-rtp video stats.
type OutboundLayer struct {
	RID                      string  `json:"rid,omitempty"`
	SSRC                     uint32  `json:"ssrc"`
	RTXSSRC                  uint32  `json:"rtxSsrc,omitempty"`
	Codec                    string  `json:"codec,omitempty"`
	FrameWidth               float64 `json:"frameWidth"`
	FrameHeight              float64 `json:"frameHeight"`
	FramesPerSecond          float64 `json:"framesPerSecond"`
	FramesEncoded            float64 `json:"framesEncoded"`
	KeyFramesEncoded         float64 `json:"keyFramesEncoded"`
	BytesSent                float64 `json:"bytesSent"`
	PacketsSent              float64 `json:"packetsSent"`
	RetransmittedPacketsSent float64 `json:"retransmittedPacketsSent"`
	RetransmittedBytesSent   float64 `json:"retransmittedBytesSent"`
	QualityLimitationReason  string  `json:"qualityLimitationReason,omitempty"`
	NackCount                float64 `json:"nackCount"`
	PliCount                 float64 `json:"pliCount"`
	FirCount                 float64 `json:"firCount"`
	TargetBitrate            float64 `json:"targetBitrate"`
	EncoderImplementation    string  `json:"encoderImplementation,omitempty"`
	ScalabilityMode          string  `json:"scalabilityMode,omitempty"`
	Active                   *bool   `json:"active,omitempty"`
}

// PublisherSample is one second of the publisher's stats.
type PublisherSample struct {
	T      float64         `json:"t"`
	TS     float64         `json:"ts"`
	Layers []OutboundLayer `json:"layers"`
	Audio  *struct {
		SSRC uint32 `json:"ssrc"`
	} `json:"audio,omitempty"`
	AvailableOutgoingBitrate float64 `json:"availableOutgoingBitrate,omitempty"`
	RTT                      float64 `json:"rtt,omitempty"`
}

// pageEvent is one "LKT kind json" console line of a page.
type pageEvent struct {
	Kind string
	Raw  json.RawMessage
}

// parseConsoleLine finds an LKT event in a line of Chromium's stderr:
//
//	[...:INFO:CONSOLE(12)] "LKT sub {...}", source: http://.../subscriber.html (12)
//
// (newer Chromiums print CONSOLE:12 or drop the source; the quotes and
// the source suffix are optional here).
func parseConsoleLine(s string) (pageEvent, bool) {
	i := strings.Index(s, "LKT ")
	if i < 0 {
		return pageEvent{}, false
	}
	s = s[i+4:]
	if j := strings.LastIndex(s, `", source:`); j >= 0 {
		s = s[:j]
	}
	s = strings.TrimSuffix(strings.TrimRight(s, " \t\r"), `"`)
	kind, rest, _ := strings.Cut(s, " ")
	if kind == "" || strings.TrimLeft(kind, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return pageEvent{}, false
	}
	rest = strings.TrimSpace(rest)
	if rest == "" || !json.Valid([]byte(rest)) {
		rest = "null"
	}
	return pageEvent{Kind: kind, Raw: json.RawMessage(rest)}, true
}
