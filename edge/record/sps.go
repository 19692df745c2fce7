package record

import "fmt"

// bitReader reads big-endian bit fields; reading past the end sets err
// and yields zeros.
type bitReader struct {
	p   []byte
	pos int // in bits
	err bool
}

func (b *bitReader) bits(n int) uint32 {
	var v uint32
	for range n {
		if b.pos >= 8*len(b.p) {
			b.err = true
			return 0
		}
		v = v<<1 | uint32(b.p[b.pos/8]>>(7-b.pos%8))&1
		b.pos++
	}
	return v
}

// ue reads an unsigned Exp-Golomb code (H.264 §9.1).
func (b *bitReader) ue() uint32 {
	zeros := 0
	for b.bits(1) == 0 {
		if b.err || zeros > 31 {
			b.err = true
			return 0
		}
		zeros++
	}
	return (1<<zeros - 1) + b.bits(zeros)
}

// se reads a signed Exp-Golomb code (H.264 §9.1.1).
func (b *bitReader) se() int32 {
	k := b.ue()
	if k&1 == 1 {
		return int32((k + 1) / 2)
	}
	return -int32(k / 2)
}

// rbsp removes the emulation prevention bytes (00 00 03 → 00 00) of a NAL
// unit (H.264 §7.4.1).
func rbsp(nal []byte) []byte {
	out := make([]byte, 0, len(nal))
	zeros := 0
	for _, c := range nal {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// spsSize returns the picture size an H.264 sequence parameter set
// (H.264 §7.3.2.1.1, the NAL unit with its header byte) describes, after
// cropping.
func spsSize(nal []byte) (w, h int, err error) {
	if len(nal) < 4 || nal[0]&0x1f != 7 {
		return 0, 0, fmt.Errorf("%w: not an SPS", ErrCodec)
	}
	b := bitReader{p: rbsp(nal[1:])}
	profile := b.bits(8)
	b.bits(16) // constraint flags, level_idc
	b.ue()     // seq_parameter_set_id
	chroma := uint32(1)
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma = b.ue()
		if chroma == 3 {
			b.bits(1) // separate_colour_plane_flag
		}
		b.ue()              // bit_depth_luma_minus8
		b.ue()              // bit_depth_chroma_minus8
		b.bits(1)           // qpprime_y_zero_transform_bypass_flag
		if b.bits(1) == 1 { // seq_scaling_matrix_present_flag
			lists := 8
			if chroma == 3 {
				lists = 12
			}
			for i := range lists {
				if b.bits(1) == 0 {
					continue
				}
				size := 16
				if i >= 6 {
					size = 64
				}
				last, next := int32(8), int32(8)
				for range size {
					if next != 0 {
						next = (last + b.se() + 256) % 256
					}
					if next != 0 {
						last = next
					}
				}
			}
		}
	}
	b.ue()          // log2_max_frame_num_minus4
	switch b.ue() { // pic_order_cnt_type
	case 0:
		b.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		b.bits(1) // delta_pic_order_always_zero_flag
		b.se()    // offset_for_non_ref_pic
		b.se()    // offset_for_top_to_bottom_field
		n := b.ue()
		if n > 255 {
			return 0, 0, fmt.Errorf("%w: SPS with %d reference frames in a POC cycle", ErrCodec, n)
		}
		for range n {
			b.se()
		}
	}
	b.ue()    // max_num_ref_frames
	b.bits(1) // gaps_in_frame_num_value_allowed_flag
	wMbs := int(b.ue()) + 1
	hMaps := int(b.ue()) + 1
	frameMbsOnly := int(b.bits(1))
	if frameMbsOnly == 0 {
		b.bits(1) // mb_adaptive_frame_field_flag
	}
	b.bits(1) // direct_8x8_inference_flag
	var left, right, top, bottom int
	if b.bits(1) == 1 { // frame_cropping_flag
		left, right, top, bottom = int(b.ue()), int(b.ue()), int(b.ue()), int(b.ue())
	}
	if b.err || wMbs > 1024 || hMaps > 1024 {
		return 0, 0, fmt.Errorf("%w: truncated or oversized SPS", ErrCodec)
	}
	// Crop units (H.264 §7.4.2.1.1, Table 6-1).
	cropX, cropY := 1, 2-frameMbsOnly
	switch chroma {
	case 1:
		cropX, cropY = 2, 2*(2-frameMbsOnly)
	case 2:
		cropX = 2
	}
	w = wMbs*16 - cropX*(left+right)
	h = (2-frameMbsOnly)*hMaps*16 - cropY*(top+bottom)
	if w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("%w: SPS crops the picture away", ErrCodec)
	}
	return w, h, nil
}
