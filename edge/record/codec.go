package record

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/spacecast/spacecast/edge/codec"
)

// Matroska codec ids (https://www.matroska.org/technical/codec_specs.html).
const (
	codecIDVP8  = "V_VP8"
	codecIDVP9  = "V_VP9"
	codecIDH264 = "V_MPEG4/ISO/AVC"
	codecIDOpus = "A_OPUS"
)

// recordable reports whether the package records codec k.
func recordable(k codec.Kind) bool {
	switch k {
	case codec.VP8, codec.VP9, codec.H264, codec.Opus, codec.RED:
		return true
	}
	return false
}

// newDepacketizer returns pion's depacketizer for k; RED yields its
// primary Opus encoding. Audio depacketizers refuse a padding-only packet
// as a frame's head, so pion's samplebuilder drops it.
func newDepacketizer(k codec.Kind) rtp.Depacketizer {
	switch k {
	case codec.VP8:
		return &codecs.VP8Packet{}
	case codec.VP9:
		return &codecs.VP9Packet{}
	case codec.H264:
		return &codecs.H264Packet{} // Annex B out; file.go makes it AVCC
	case codec.RED:
		return &audioDepacketizer{red: true}
	default:
		return &audioDepacketizer{}
	}
}

// audioDepacketizer is pion's Opus depacketizer, for RED fed the primary
// encoding, whose head check refuses an empty (padding-only) payload.
type audioDepacketizer struct {
	opus codecs.OpusPacket
	red  bool
}

func (d *audioDepacketizer) Unmarshal(p []byte) ([]byte, error) {
	if d.red {
		var err error
		if p, err = primaryFromRED(p); err != nil {
			return nil, err
		}
	}
	return d.opus.Unmarshal(p)
}

func (d *audioDepacketizer) IsPartitionHead(p []byte) bool     { return len(p) > 0 }
func (d *audioDepacketizer) IsPartitionTail(bool, []byte) bool { return true }

var errRED = errors.New("record: malformed or empty RED payload")

// primaryFromRED is codec.REDPrimary refusing an empty primary (nothing to
// record).
func primaryFromRED(p []byte) ([]byte, error) {
	prim, err := codec.REDPrimary(p)
	if err != nil || len(prim) == 0 {
		return nil, errRED
	}
	return prim, nil
}

// keyframe reports whether frame, a whole depacketized frame of codec k,
// can be decoded on its own. Audio frames always can.
func keyframe(k codec.Kind, frame []byte) bool {
	switch k {
	case codec.VP8:
		// RFC 6386 §9.1: the frame tag's lowest bit is 0 for a key frame.
		return len(frame) >= 10 && frame[0]&1 == 0
	case codec.VP9:
		_, _, key := vp9Header(frame)
		return key
	case codec.H264:
		key := false
		annexB(frame, func(nal []byte) {
			if len(nal) > 0 && nal[0]&0x1f == 5 { // IDR slice
				key = true
			}
		})
		return key
	}
	return true
}

// dimensions returns the coded size of a keyframe of codec k (0, 0 when
// it cannot tell).
func dimensions(k codec.Kind, frame []byte) (w, h int) {
	switch k {
	case codec.VP8:
		// RFC 6386 §9.1: 3-byte frame tag, start code 9d 01 2a, then
		// 14-bit width and height (2 bits of scaling each).
		if len(frame) >= 10 && frame[0]&1 == 0 && frame[3] == 0x9d && frame[4] == 0x01 && frame[5] == 0x2a {
			return int(binary.LittleEndian.Uint16(frame[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(frame[8:]) & 0x3fff)
		}
	case codec.VP9:
		w, h, _ = vp9Header(frame)
	case codec.H264:
		annexB(frame, func(nal []byte) {
			if w == 0 && len(nal) > 0 && nal[0]&0x1f == 7 {
				if sw, sh, err := spsSize(nal); err == nil {
					w, h = sw, sh
				}
			}
		})
	}
	return w, h
}

// vp9Header reads a VP9 frame's uncompressed header (VP9 bitstream
// specification §6.2) as far as the frame size: key reports a key frame,
// and for one w and h its size.
func vp9Header(frame []byte) (w, h int, key bool) {
	b := bitReader{p: frame}
	if b.bits(2) != 2 { // frame_marker
		return 0, 0, false
	}
	profile := b.bits(1) | b.bits(1)<<1
	if profile == 3 {
		b.bits(1) // reserved_zero
	}
	if b.bits(1) == 1 { // show_existing_frame
		return 0, 0, false
	}
	if b.bits(1) != 0 { // frame_type: 0 is KEY_FRAME
		return 0, 0, false
	}
	b.bits(2)                            // show_frame, error_resilient_mode
	if b.bits(24) != 0x498342 || b.err { // frame_sync_code
		return 0, 0, false
	}
	if profile >= 2 {
		b.bits(1) // ten_or_twelve_bit
	}
	const csRGB = 7
	if b.bits(3) != csRGB { // color_space
		b.bits(1) // color_range
		if profile == 1 || profile == 3 {
			b.bits(3) // subsampling_x, subsampling_y, reserved_zero
		}
	} else if profile == 1 || profile == 3 {
		b.bits(1) // reserved_zero
	}
	w, h = int(b.bits(16))+1, int(b.bits(16))+1
	if b.err {
		return 0, 0, true
	}
	return w, h, true
}

// annexB calls fn with each NAL unit of an Annex B byte stream (start
// codes 00 00 01 or 00 00 00 01), without its start code.
func annexB(p []byte, fn func(nal []byte)) {
	start := -1
	i := 0
	for i+2 < len(p) {
		if p[i] == 0 && p[i+1] == 0 && p[i+2] == 1 {
			if start >= 0 {
				end := i
				if end > start && p[end-1] == 0 {
					end-- // the first zero of a four-byte start code
				}
				fn(p[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start <= len(p) {
		fn(p[start:])
	}
}

// avcc rewrites an Annex B access unit as ISO/IEC 14496-15 samples: each
// NAL unit behind its 4-byte length (parameter sets stay in band, so a
// layer switch to another size needs no new header).
func avcc(p []byte) []byte {
	out := make([]byte, 0, len(p)+16)
	annexB(p, func(nal []byte) {
		for len(nal) > 0 && nal[len(nal)-1] == 0 {
			nal = nal[:len(nal)-1] // trailing_zero_8bits
		}
		if len(nal) == 0 {
			return
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(nal)))
		out = append(out, nal...)
	})
	return out
}

// avcConfig builds the AVCDecoderConfigurationRecord (ISO/IEC 14496-15
// §5.2.4.1) of the first SPS and PPS of an Annex B keyframe, the CodecPrivate
// of a Matroska H.264 track.
func avcConfig(keyframe []byte) ([]byte, error) {
	var sps, pps []byte
	annexB(keyframe, func(nal []byte) {
		switch {
		case len(nal) == 0:
		case nal[0]&0x1f == 7 && sps == nil:
			sps = nal
		case nal[0]&0x1f == 8 && pps == nil:
			pps = nal
		}
	})
	if len(sps) < 4 || len(pps) == 0 {
		return nil, fmt.Errorf("%w: H.264 keyframe without SPS and PPS", ErrCodec)
	}
	b := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1} // 4-byte lengths, one SPS
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	return append(b, pps...), nil
}

// opusHead is the CodecPrivate of a Matroska Opus track (RFC 7845 §5.1):
// two channels (WebRTC's opus/48000/2 carries mono or stereo), no
// pre-skip, 48 kHz, no gain, channel mapping family 0.
func opusHead() []byte {
	b := []byte("OpusHead")
	b = append(b, 1, 2)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 48000)
	b = binary.LittleEndian.AppendUint16(b, 0)
	return append(b, 0)
}
