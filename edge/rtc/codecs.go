package rtc

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// MimeRED is RFC 2198 redundant audio, as LiveKit clients publish Opus.
const MimeRED = "audio/red"

// VideoMime maps the codec names of AddTrackRequest.simulcast_codecs to the
// MIME type the edge lets the client publish ("" for unknown ones). AV1 is
// answered with VP9: browsers publish AV1 as SVC and their receivers need
// its dependency descriptor, which the edge does not forward yet, so
// livekit-client is told (TrackInfo.codecs) to fall back to VP9, which
// decodes without it.
func VideoMime(codec string) string {
	switch strings.ToLower(codec) {
	case "vp8":
		return webrtc.MimeTypeVP8
	case "vp9", "av1":
		return webrtc.MimeTypeVP9
	case "h264":
		return webrtc.MimeTypeH264
	}
	return ""
}

// PreferOfferedCodecs orders, for each media section of a publisher offer,
// the codecs of the edge's answer: the codec the client asked for in its
// AddTrackRequest (want, by the track id in a=msid) first, then the client's
// own order. The offerer sends with the first codec of the answer, and
// livekit-client chooses VP9, AV1 or H.264 this way; pion would otherwise
// answer in the edge's own order and the client would send VP8.
func PreferOfferedCodecs(pc *webrtc.PeerConnection, offer string, want map[string]string) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return
	}
	audio, video := SupportedCodecs()
	byMid := map[string]*webrtc.RTPTransceiver{}
	for _, tr := range pc.GetTransceivers() {
		byMid[tr.Mid()] = tr
	}
	for _, md := range sd.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		tr := byMid[mid]
		if tr == nil {
			continue
		}
		if _, recvonly := md.Attribute("recvonly"); recvonly {
			// A section the client receives on (a single connection):
			// its codecs are the subscribed track's (SubscriberCodecs).
			continue
		}
		ours := audio
		if md.MediaName.Media == "video" {
			ours = video
		} else if md.MediaName.Media != "audio" {
			continue
		}
		// The offered codecs we support, in the offer's order, with the
		// offer's payload types and fmtp (an answer must echo them).
		var offered []webrtc.RTPCodecParameters
		for _, pt := range md.MediaName.Formats {
			mime, fmtp := offeredCodec(md, pt)
			n, err := strconv.ParseUint(pt, 10, 7)
			if err != nil {
				continue
			}
			for _, c := range ours {
				if strings.EqualFold(c.MimeType, md.MediaName.Media+"/"+mime) && sameProfile(c.SDPFmtpLine, fmtp) {
					c.PayloadType = webrtc.PayloadType(n)
					c.SDPFmtpLine = fmtp
					c.RTCPFeedback = withTransportCC(md, pt, c.RTCPFeedback)
					offered = append(offered, c)
					break
				}
			}
		}
		var prefs []webrtc.RTPCodecParameters
		if msid, ok := md.Attribute("msid"); ok {
			if _, cid, ok := strings.Cut(msid, " "); ok && want[cid] != "" {
				for _, c := range offered {
					if strings.EqualFold(c.MimeType, want[cid]) {
						prefs = append(prefs, c)
					}
				}
			}
		}
		for _, c := range offered {
			if !contains(prefs, c) {
				prefs = append(prefs, c)
			}
		}
		prefs = append(prefs, offeredRTX(md, prefs)...)
		if len(prefs) > 0 {
			_ = tr.SetCodecPreferences(prefs)
		}
	}
}

// withTransportCC is fb with transport-cc added when the offer asks for it
// on payload type pt: the edge sends publishers transport-cc feedback
// (ConfigureTWCCSender), and a browser runs its send-side bandwidth
// estimation on it, adapting its encodings to its uplink, only when the
// answer's codec lists it (codec preferences replace the MediaEngine's
// feedback, so it must be added here).
func withTransportCC(md *sdp.MediaDescription, pt string, fb []webrtc.RTCPFeedback) []webrtc.RTCPFeedback {
	for _, a := range md.Attributes {
		if a.Key == "rtcp-fb" && a.Value == pt+" "+webrtc.TypeRTCPFBTransportCC {
			return append(append([]webrtc.RTCPFeedback(nil), fb...), webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC})
		}
	}
	return fb
}

// offeredRTX returns the RTX codecs (RFC 4588) of an offered media section
// whose apt is one of codecs, with the offer's payload types: an answer
// that keeps them lets the publisher retransmit, and probe for bandwidth,
// on RTX streams instead of padding its media stream.
func offeredRTX(md *sdp.MediaDescription, codecs []webrtc.RTPCodecParameters) []webrtc.RTPCodecParameters {
	var out []webrtc.RTPCodecParameters
	for _, pt := range md.MediaName.Formats {
		name, fmtp := offeredCodec(md, pt)
		n, err := strconv.ParseUint(pt, 10, 7)
		if err != nil || !strings.EqualFold(name, "rtx") {
			continue
		}
		apt, ok := strings.CutPrefix(strings.TrimSpace(fmtp), "apt=")
		if !ok {
			continue
		}
		for _, c := range codecs {
			if strconv.Itoa(int(c.PayloadType)) == apt {
				out = append(out, webrtc.RTPCodecParameters{
					RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: c.ClockRate, SDPFmtpLine: "apt=" + apt},
					PayloadType:        webrtc.PayloadType(n),
				})
				break
			}
		}
	}
	return out
}

// offeredCodec returns the encoding name and fmtp line of payload type pt.
func offeredCodec(md *sdp.MediaDescription, pt string) (name, fmtp string) {
	for _, a := range md.Attributes {
		v, ok := strings.CutPrefix(a.Value, pt+" ")
		if !ok {
			continue
		}
		switch a.Key {
		case "rtpmap":
			name, _, _ = strings.Cut(v, "/")
		case "fmtp":
			fmtp = v
		}
	}
	return name, fmtp
}

// sameProfile compares the fmtp parameters that select a different codec
// (H.264 profile and packetization mode, VP9 profile).
func sameProfile(ours, theirs string) bool {
	get := func(f, k string) string {
		for _, kv := range strings.Split(f, ";") {
			if key, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && key == k {
				return strings.ToLower(v)
			}
		}
		return ""
	}
	for _, k := range []string{"profile-level-id", "packetization-mode", "profile-id"} {
		if o := get(ours, k); o != "" && o != get(theirs, k) && !(k == "profile-id" && o == "0" && get(theirs, k) == "") {
			return false
		}
	}
	return true
}

func contains(cs []webrtc.RTPCodecParameters, c webrtc.RTPCodecParameters) bool {
	for _, x := range cs {
		if x.PayloadType == c.PayloadType {
			return true
		}
	}
	return false
}

// SubscriberCodecs is what a subscriber is offered for a track the publisher
// sends in c: the edge's own entry for that codec (its payload type: the
// publisher's may differ) with its RTX codec for video, and plain Opus after RED for subscribers without
// RED (they get the primary encoding).
func SubscriberCodecs(c webrtc.RTPCodecParameters) []webrtc.RTPCodecParameters {
	audio, video := SupportedCodecs()
	var out []webrtc.RTPCodecParameters
	for _, o := range append(audio, video...) {
		if strings.EqualFold(o.MimeType, c.MimeType) && sameProfile(o.SDPFmtpLine, c.SDPFmtpLine) {
			out = append(out, o)
			if RTXPayloadType(o.PayloadType) != 0 {
				out = append(out, RTXFor(o)) // the edge's retransmissions
			}
			break
		}
	}
	if strings.EqualFold(c.MimeType, MimeRED) {
		for _, o := range audio {
			if strings.EqualFold(o.MimeType, webrtc.MimeTypeOpus) {
				out = append(out, o)
			}
		}
	}
	return out
}
