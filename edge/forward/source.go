package forward

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// MaxLayers is the largest number of simulcast layers a Source carries.
const MaxLayers = 4

// DefaultKeyframeInterval is the least time between two keyframe requests
// for one track: libwebrtc honours one request (PLI or FIR) per 300 ms for
// a whole simulcast stream, and answers it with a keyframe on every layer,
// so a request sooner than that is lost (kMinKeyframeSendIntervalMs).
const DefaultKeyframeInterval = 300 * time.Millisecond

// SourceConfig describes a published track. Zero values mean defaults.
type SourceConfig struct {
	Codec     codec.Kind
	ClockRate uint32 // Hz; default 90000 for video, 48000 for audio
	Layers    int    // simulcast layers, 1..MaxLayers; default 1
	// KeyframeInterval is the least time between two keyframe requests
	// (PLI/FIR) sent to the publisher for the track, whatever the number of
	// subscribers and layers asking; default DefaultKeyframeInterval.
	KeyframeInterval time.Duration
	// RateWindow is the sliding window over which each layer's bitrate is
	// measured; default simulcast.DefaultRateWindow.
	RateWindow time.Duration
}

// Validate checks the config.
func (c SourceConfig) Validate() error {
	if c.Layers < 0 || c.Layers > MaxLayers {
		return fmt.Errorf("%w: layers %d not in [1, %d]", ErrConfig, c.Layers, MaxLayers)
	}
	if c.KeyframeInterval < 0 || c.RateWindow < 0 {
		return fmt.Errorf("%w: negative interval", ErrConfig)
	}
	return nil
}

type senderReport struct {
	ntpNanos int64 // NTP time of the report, as Unix-epoch-agnostic nanoseconds
	rtp      uint32
	valid    bool
}

type sourceLayer struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	rate    *simulcast.Rate
	// temporal meters the bitrate of each VP8 temporal layer (see
	// temporalID).
	temporal [simulcast.MaxTemporal]*simulcast.Rate

	keyframeReqs atomic.Uint64
	suppressed   atomic.Uint64
}

// Source is the shared, publisher-side state of one published track. All
// methods are safe for concurrent use.
type Source struct {
	kind      codec.Kind
	clockRate uint32
	nlayers   int
	kfEvery   int64
	// lastKeyframeReq is when the last request went (the Parse clock's
	// nanoseconds + 1; 0: never), for every layer.
	lastKeyframeReq atomic.Int64

	layers [MaxLayers]sourceLayer

	mu  sync.Mutex
	srs [MaxLayers]senderReport
}

// NewSource builds a Source.
func NewSource(cfg SourceConfig) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Layers == 0 {
		cfg.Layers = 1
	}
	if cfg.ClockRate == 0 {
		cfg.ClockRate = 48000
		if cfg.Codec.IsVideo() {
			cfg.ClockRate = 90000
		}
	}
	if cfg.KeyframeInterval == 0 {
		cfg.KeyframeInterval = DefaultKeyframeInterval
	}
	s := &Source{
		kind:      cfg.Codec,
		clockRate: cfg.ClockRate,
		nlayers:   cfg.Layers,
		kfEvery:   int64(cfg.KeyframeInterval),
	}
	for i := range s.layers[:cfg.Layers] {
		r, err := simulcast.NewRate(cfg.RateWindow)
		if err != nil {
			return nil, fmt.Errorf("forward: layer %d rate: %w", i, err)
		}
		s.layers[i].rate = r
		if !cfg.Codec.IsVideo() {
			continue
		}
		for t := range s.layers[i].temporal {
			if s.layers[i].temporal[t], err = simulcast.NewRate(cfg.RateWindow); err != nil {
				return nil, fmt.Errorf("forward: layer %d temporal rate: %w", i, err)
			}
		}
	}
	return s, nil
}

// Codec is the track's codec.
func (s *Source) Codec() codec.Kind { return s.kind }

// ClockRate is the RTP clock rate in Hz.
func (s *Source) ClockRate() uint32 { return s.clockRate }

// Layers is the number of simulcast layers.
func (s *Source) Layers() int { return s.nlayers }

// Packet is one incoming RTP packet, parsed once by Source.Parse and then
// handed to every Forwarder of the Source. It refers to, and does not own,
// the caller's buffer.
type Packet struct {
	Buf     []byte
	Header  codec.Header
	Layer   int8
	Arrival int64 // nanoseconds on the caller's monotonic clock
	// Keyframe: first packet of a keyframe, a point where a subscriber can
	// start decoding (for audio: every packet).
	Keyframe bool
	HasVP8   bool
	VP8      codec.VP8Descriptor
}

// Payload returns the RTP payload without padding.
func (p *Packet) Payload() []byte { return p.Buf[p.Header.PayloadOffset:p.Header.PayloadEnd] }

// Parse parses an RTP packet of the given layer that arrived at arrival
// (nanoseconds on any monotonic clock, the same for all calls on this Source
// and its Forwarders, e.g. time.Since(edgeStart)), counts it and feeds the
// layer's bitrate meter. It does not allocate.
func (s *Source) Parse(buf []byte, layer int, arrival int64) (Packet, error) {
	return s.parse(buf, layer, arrival, true)
}

func (s *Source) parse(buf []byte, layer int, arrival int64, count bool) (Packet, error) {
	p := Packet{Buf: buf, Layer: int8(layer), Arrival: arrival}
	if layer < 0 || layer >= s.nlayers {
		return p, fmt.Errorf("%w: layer %d of %d", ErrLayer, layer, s.nlayers)
	}
	h, err := codec.ParseRTP(buf)
	if err != nil {
		return p, fmt.Errorf("forward: %w", err)
	}
	p.Header = h
	payload := buf[h.PayloadOffset:h.PayloadEnd]
	if len(payload) == 0 {
		// Padding only (RFC 3550 §5.1), a bandwidth probe: never forwarded,
		// so it costs a subscriber nothing and is not counted in the
		// layer's bitrate; never a point to start decoding at.
		return p, nil
	}
	l := &s.layers[layer]
	if count {
		l.packets.Add(1)
		l.bytes.Add(uint64(len(buf)))
		l.rate.Add(len(buf), arrival)
	}
	switch s.kind {
	case codec.VP8:
		if d, err := codec.ParseVP8(payload); err == nil {
			p.HasVP8 = true
			p.VP8 = d
			p.Keyframe = d.Keyframe
			if count {
				tid, _ := temporalID(&d)
				l.temporal[tid].Add(len(buf), arrival)
			}
		}
	case codec.VP9, codec.H264, codec.AV1:
		p.Keyframe = codec.IsKeyframe(s.kind, payload)
	default:
		p.Keyframe = true
	}
	return p, nil
}

// SenderReport records an RTCP sender report (RFC 3550 §6.4.1) of a layer:
// its 64-bit NTP timestamp and the RTP timestamp of the same instant. The
// forwarders use them to keep timestamps continuous when they switch layers.
func (s *Source) SenderReport(layer int, ntp uint64, rtpTS uint32) {
	if layer < 0 || layer >= s.nlayers {
		return
	}
	s.mu.Lock()
	s.srs[layer] = senderReport{ntpNanos: ntpToNanos(ntp), rtp: rtpTS, valid: true}
	s.mu.Unlock()
}

// ntpToNanos converts a 64-bit NTP timestamp (32.32 fixed point seconds) to
// nanoseconds. Only differences matter, so the epoch is irrelevant.
func ntpToNanos(ntp uint64) int64 {
	sec := int64(ntp >> 32)
	frac := int64((ntp & 0xffffffff) * 1e9 >> 32)
	return sec*1e9 + frac
}

// mapTimestamp returns how many RTP ticks separate fromTS of layer from and
// toTS of layer to, using each layer's sender report. ok is false if a
// report is missing.
func (s *Source) mapTimestamp(from int8, fromTS uint32, to int8, toTS uint32) (int64, bool) {
	if from == to {
		return int64(int32(toTS - fromTS)), true
	}
	s.mu.Lock()
	a, b := s.srs[from], s.srs[to]
	s.mu.Unlock()
	if !a.valid || !b.valid {
		return 0, false
	}
	// Ticks from a's report to b's report, plus each packet's distance to
	// its own report; only the NTP difference needs converting.
	ntpTicks := ((b.ntpNanos-a.ntpNanos)*int64(s.clockRate) + 5e8) / 1e9
	return ntpTicks + int64(int32(toTS-b.rtp)) - int64(int32(fromTS-a.rtp)), true
}

// RequestKeyframe asks whether a keyframe request (PLI, RFC 4585 §6.3.1, or
// FIR, RFC 5104 §4.3.1) should be sent to the publisher for layer now. It
// reports true at most once per KeyframeInterval for the whole track,
// however many subscribers and layers ask; the caller sends the request
// when it gets true. A forwarder that still waits asks again with its next
// packet, so a request refused now goes out once the interval has passed.
// now is on the Parse clock.
func (s *Source) RequestKeyframe(layer int, now int64) bool {
	if layer < 0 || layer >= s.nlayers || !s.kind.IsVideo() {
		return false
	}
	l := &s.layers[layer]
	for {
		last := s.lastKeyframeReq.Load()
		if last != 0 && now+1-last < s.kfEvery {
			l.suppressed.Add(1)
			return false
		}
		if s.lastKeyframeReq.CompareAndSwap(last, now+1) {
			l.keyframeReqs.Add(1)
			return true
		}
	}
}

// LayerStats are the counters of one published layer.
type LayerStats struct {
	Packets, Bytes uint64
	Bitrate        uint64 // bits/s over the rate window
	// KeyframeRequests is the number of requests let through to the
	// publisher; Suppressed the number collapsed by the rate limit.
	KeyframeRequests, Suppressed uint64
}

// LayerStats returns the counters of a layer; now is on the Parse clock.
func (s *Source) LayerStats(layer int, now int64) LayerStats {
	if layer < 0 || layer >= s.nlayers {
		return LayerStats{}
	}
	l := &s.layers[layer]
	return LayerStats{
		Packets:          l.packets.Load(),
		Bytes:            l.bytes.Load(),
		Bitrate:          l.rate.Bitrate(now),
		KeyframeRequests: l.keyframeReqs.Load(),
		Suppressed:       l.suppressed.Load(),
	}
}

// TemporalBitrates writes into dst the bitrate of VP8 temporal layers
// 0..t of layer, for each t (cumulative: what a subscriber receives when
// it gets temporal layers up to t; the highest equals the layer's
// Bitrate), and returns how many temporal layers the layer carries now:
// 1 + the highest temporal layer seen within the rate window (1 for a VP8
// stream without temporal layers nor non-reference pictures), 0 for
// another codec. now is on the Parse clock.
func (s *Source) TemporalBitrates(layer int, now int64, dst *[simulcast.MaxTemporal]uint64) (n int) {
	*dst = [simulcast.MaxTemporal]uint64{}
	if layer < 0 || layer >= s.nlayers || s.layers[layer].temporal[0] == nil {
		return 0
	}
	var sum uint64
	for t, r := range s.layers[layer].temporal {
		b := r.Bitrate(now)
		if b > 0 {
			n = t + 1
		}
		sum += b
		dst[t] = sum
	}
	// The meters' windows start at their first packets: scale to the
	// layer's own.
	if total := s.layers[layer].rate.Bitrate(now); sum > 0 {
		for t := range dst {
			dst[t] = uint64(float64(dst[t]) * float64(total) / float64(sum))
		}
	}
	return n
}

// Bitrate is the measured bitrate of a layer in bits/s.
func (s *Source) Bitrate(layer int, now int64) uint64 {
	if layer < 0 || layer >= s.nlayers {
		return 0
	}
	return s.layers[layer].rate.Bitrate(now)
}
