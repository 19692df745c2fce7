// Package codec parses the few bytes of RTP packets that the edge's media path
// needs: the RTP fixed header and extensions (RFC 3550 §5.1, §5.3.1), and the
// payload descriptors of VP8 (RFC 7741), VP9 (RFC 9628, formerly
// draft-ietf-payload-vp9), H.264 (RFC 6184) and AV1 (the AOM "RTP Payload Format
// for AV1") far enough to tell where a keyframe starts and, for VP8, where the
// picture ID, TL0PICIDX and KEYIDX fields sit so they can be rewritten in place.
//
// Every parser takes untrusted publisher input, never panics, never allocates,
// and is fuzzed (testdata/fuzz). It is owned by the media-path work of issue 3
// (edge/forward, edge/cache and edge/simulcast build on it).
package codec
