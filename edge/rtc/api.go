package rtc

import (
	"fmt"
	"log/slog"
	"net"

	sclog "github.com/spacecast/spacecast/internal/logging"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/srtpout"
)

// APIOptions configure the pion API every peer connection of the edge uses.
type APIOptions struct {
	// UDP is the one UDP socket all ICE traffic goes through.
	UDP net.PacketConn
	// TCP optionally accepts ICE-TCP.
	TCP net.Listener
	// NodeIPs replace host candidate addresses (1:1 NAT).
	NodeIPs []string
	// Interfaces limits gathering to these interface names (empty = all).
	Interfaces []string
	// Loopback gathers loopback candidates too (tests, dev on one box).
	Loopback bool
	Logger   *slog.Logger
	// Role is what NewAPI builds for (NewAPIs builds all three).
	Role Role
	// REMB offers subscribers REMB alone: their receivers estimate the
	// bandwidth and layers follow what they report. By default subscriber
	// connections also offer transport-cc (the extension and the
	// feedback), and the edge estimates each one's bandwidth itself from
	// the feedback (edge/bwe, fed through SubAPI.NewPeerConnection's
	// TransportFeedback); clients that answer without transport-cc keep
	// sending REMB.
	REMB bool
	// Direct is the socket under the UDP mux (UDP must write to it). When
	// set the edge encrypts and sends subscribers' RTP itself
	// (edge/srtpout) instead of through pion's write path, once each
	// connection's handshake has reported its keys.
	Direct srtpout.Socket

	udpMux ice.UDPMux
	tcpMux ice.TCPMux
}

// Role is what a peer connection carries.
type Role int

// Roles.
const (
	// Publisher connections receive a client's media: receiver reports
	// and transport-cc feedback go to the client.
	Publisher Role = iota
	// Subscriber connections send media to a client: the edge answers
	// NACKs from its own packet cache and writes the sender reports.
	Subscriber
	// Single connections do both (livekit-client's single peer
	// connection, /rtc/v1); the edge answers the client's offers as the
	// DTLS server, so its own SRTP path can send.
	Single
)

// APIs are the edge's three kinds of peer connection over one UDP mux
// (and one TCP mux).
type APIs struct {
	Publisher          *webrtc.API
	Subscriber, Single *SubAPI
}

// SubAPI makes peer connections that send media (subscribers, and single
// connections). Each connection gets its own pion API (sharing the
// MediaEngine and interceptor registry, which pion copies per connection
// anyway), so that its SettingEngine can report the connection's DTLS keys
// to edge/srtpout and its transport-cc feedback to the caller.
type SubAPI struct {
	api *webrtc.API // Shared: one API for every connection, neither of the above

	direct   srtpout.Socket // nil: pion writes the media
	twcc     bool           // the connections negotiate transport-cc
	media    *webrtc.MediaEngine
	registry *interceptor.Registry
	settings webrtc.SettingEngine
}

// Shared is a SubAPI that makes every connection with api: no direct
// sending, and no transport-cc feedback reaches the caller (tests that
// build one API for everything).
func Shared(api *webrtc.API) *SubAPI { return &SubAPI{api: api} }

// NewPeerConnection makes a sending peer connection and, with direct
// sending, the srtpout.Sender its handshake reports to (else nil). fb, when
// not nil, receives the connection's transport-cc feedback.
func (a *SubAPI) NewPeerConnection(cfg webrtc.Configuration, fb TransportFeedback) (*webrtc.PeerConnection, *srtpout.Sender, error) {
	if a.api != nil {
		pc, err := a.api.NewPeerConnection(cfg)
		return pc, nil, err
	}
	settings := a.settings
	var s *srtpout.Sender
	if a.direct != nil {
		s = srtpout.NewSender(a.direct)
		s.Keys().Configure(&settings)
	}
	if fb != nil {
		settings.BufferFactory = feedbackBuffers(fb)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(a.media), webrtc.WithInterceptorRegistry(a.registry), webrtc.WithSettingEngine(settings))
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return nil, nil, err
	}
	return pc, s, nil
}

// Codecs is what a connection of this API offers a subscriber for a track
// the publisher sends in c (SubscriberCodecs), with transport-cc feedback
// on each codec when the connections negotiate transport-cc: codec
// preferences replace the MediaEngine's feedback, and a browser sends
// transport-cc feedback for what it receives (which the edge's estimator
// lives on) only for codecs whose negotiation lists it; without, it
// estimates the bandwidth itself and sends REMB.
func (a *SubAPI) Codecs(c webrtc.RTPCodecParameters) []webrtc.RTPCodecParameters {
	cs := SubscriberCodecs(c)
	if !a.twcc {
		return cs
	}
	for i := range cs {
		if cs[i].MimeType != webrtc.MimeTypeRTX {
			cs[i].RTCPFeedback = append(append([]webrtc.RTCPFeedback(nil), cs[i].RTCPFeedback...), webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC})
		}
	}
	return cs
}

// NewAPIs builds the publisher, subscriber and single-connection APIs
// over one UDP mux (and one TCP mux).
func NewAPIs(o APIOptions) (APIs, error) {
	logs := sclog.Pion(o.Logger)
	if o.Logger == nil {
		logs = sclog.Pion(slog.New(slog.DiscardHandler))
	}
	if o.UDP != nil {
		o.udpMux = webrtc.NewICEUDPMux(logs.NewLogger("udpmux"), o.UDP)
	}
	if o.TCP != nil {
		o.tcpMux = webrtc.NewICETCPMux(logs.NewLogger("tcpmux"), o.TCP, 32)
	}
	var apis APIs
	var err error
	o.Role = Publisher
	if apis.Publisher, err = NewAPI(o); err != nil {
		return APIs{}, err
	}
	for _, r := range []Role{Subscriber, Single} {
		o.Role = r
		m, ir, s, err := buildAPI(o)
		if err != nil {
			return APIs{}, err
		}
		sub := &SubAPI{direct: o.Direct, twcc: r == Single || !o.REMB, media: m, registry: ir, settings: s}
		if r == Subscriber {
			apis.Subscriber = sub
		} else {
			apis.Single = sub
		}
	}
	return apis, nil
}

// NewAPI builds the MediaEngine (Opus, RED, VP8, VP9, H.264, AV1, each
// video codec with RTX; NACK, PLI, FIR, REMB and, unless APIOptions.REMB,
// transport-cc feedback), the interceptors (publishers: receiver reports
// and transport-cc feedback; subscribers: none, the edge numbers their
// packets, writes their sender reports and estimates their bandwidth
// itself) and the SettingEngine (UDP mux, optional TCP mux, NAT 1:1,
// interface filter). The UDP and TCP muxes are shared by every API built on
// the same sockets only if built once: build the publisher and subscriber
// APIs with NewAPIs.
func NewAPI(o APIOptions) (*webrtc.API, error) {
	m, ir, s, err := buildAPI(o)
	if err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(s)), nil
}

// buildAPI is NewAPI's parts.
func buildAPI(o APIOptions) (*webrtc.MediaEngine, *interceptor.Registry, webrtc.SettingEngine, error) {
	fail := func(err error) (*webrtc.MediaEngine, *interceptor.Registry, webrtc.SettingEngine, error) {
		return nil, nil, webrtc.SettingEngine{}, err
	}
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return fail(err)
	}
	ir := &interceptor.Registry{}
	if o.Role != Subscriber {
		// Receiver reports to publishers. Subscribers get sender reports
		// from the edge itself (Participant.sendReports).
		rr, err := report.NewReceiverInterceptor()
		if err != nil {
			return fail(fmt.Errorf("rtc: reports: %w", err))
		}
		ir.Add(rr)
		// NACKs to publishers come from the layers' own requesters
		// (edge/nack): pion's generator never sees RTX repairs.
		if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
			return fail(fmt.Errorf("rtc: twcc: %w", err))
		}
	}
	if o.Role == Subscriber && !o.REMB {
		// Send-side bandwidth estimation: the edge writes the
		// transport-wide sequence number into every packet it sends
		// (edge/forward), audio and video alike, and reads the client's
		// feedback itself (SubAPI.NewPeerConnection). Single connections
		// negotiate the same through ConfigureTWCCSender above.
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, k); err != nil {
				return fail(fmt.Errorf("rtc: transport-cc: %w", err))
			}
			m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, k)
		}
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return fail(fmt.Errorf("rtc: simulcast extensions: %w", err))
	}
	s := webrtc.SettingEngine{LoggerFactory: sclog.Pion(loggerOr(o.Logger))}
	if o.udpMux == nil && o.UDP != nil {
		o.udpMux = webrtc.NewICEUDPMux(s.LoggerFactory.NewLogger("udpmux"), o.UDP)
	}
	if o.udpMux != nil {
		s.SetICEUDPMux(o.udpMux)
	}
	nets := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if o.tcpMux == nil && o.TCP != nil {
		o.tcpMux = webrtc.NewICETCPMux(s.LoggerFactory.NewLogger("tcpmux"), o.TCP, 32)
	}
	if o.tcpMux != nil {
		s.SetICETCPMux(o.tcpMux)
		nets = append(nets, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	s.SetNetworkTypes(nets)
	if len(o.NodeIPs) > 0 {
		// 1:1 NAT: the node IPs replace the host candidates' addresses.
		rule := webrtc.ICEAddressRewriteRule{External: o.NodeIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace}
		if err := s.SetICEAddressRewriteRules(rule); err != nil {
			return fail(fmt.Errorf("rtc: node IPs: %w", err))
		}
	}
	if len(o.Interfaces) > 0 {
		allowed := map[string]bool{}
		for _, n := range o.Interfaces {
			allowed[n] = true
		}
		s.SetInterfaceFilter(func(name string) bool { return allowed[name] })
	}
	s.SetIncludeLoopbackCandidate(o.Loopback)
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if o.Role == Single {
		// The client offers on its one connection; as the DTLS server
		// the edge learns its SRTP keys (edge/srtpout) and sends itself.
		if err := s.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
			return fail(fmt.Errorf("rtc: dtls role: %w", err))
		}
	}
	return m, ir, s, nil
}

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: webrtc.TypeRTCPFBGoogREMB}, {Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
	{Type: webrtc.TypeRTCPFBNACK}, {Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
}

// audioFeedback is what the edge offers subscribers on audio: NACK, as
// livekit-server does, answered from the track's audio cache on the media
// stream (audio has no RTX), for clients that accept it. Chromium (156)
// answers without it, so its audio losses are repaired by RED alone (see
// codec.REDWidener).
var audioFeedback = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBNACK}}

func registerCodecs(m *webrtc.MediaEngine) error {
	audio, video := SupportedCodecs()
	for _, c := range audio {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return fmt.Errorf("room: codec %s: %w", c.MimeType, err)
		}
	}
	for _, c := range video {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("room: codec %s: %w", c.MimeType, err)
		}
		if err := m.RegisterCodec(RTXFor(c), webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("room: rtx for %s: %w", c.MimeType, err)
		}
	}
	return registerExtensions(m)
}

// RTXPayloadType is the edge's RTX payload type (RFC 4588) for one video
// payload type of SupportedCodecs. Publishers retransmit and probe on RTX;
// subscribers get the edge's retransmissions there.
func RTXPayloadType(pt webrtc.PayloadType) webrtc.PayloadType {
	switch pt {
	case 96, 98, 100, 108, 112, 35:
		return pt + 1
	case 125, 127, 123:
		return pt - 1
	}
	return 0
}

// RTXFor is the RTX codec whose apt is c (RFC 4588 §8.6).
func RTXFor(c webrtc.RTPCodecParameters) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: c.ClockRate, SDPFmtpLine: fmt.Sprintf("apt=%d", c.PayloadType)},
		PayloadType:        RTXPayloadType(c.PayloadType),
	}
}

// SupportedCodecs are the codecs the edge negotiates, in its own order of
// preference; every video codec also has an RTX codec (RTXFor).
func SupportedCodecs() (audio, video []webrtc.RTPCodecParameters) {
	audio = []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: audioFeedback}, PayloadType: 111},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/red", ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111", RTCPFeedback: audioFeedback}, PayloadType: 63},
	}
	h264 := func(pt webrtc.PayloadType, fmtp string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: videoFeedback}, PayloadType: pt}
	}
	video = []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 96},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: videoFeedback}, PayloadType: 98},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=2", RTCPFeedback: videoFeedback}, PayloadType: 100},
		h264(125, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
		h264(108, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"),
		h264(127, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"),
		h264(123, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"),
		h264(112, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"),
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 35},
	}
	return audio, video
}

func registerExtensions(m *webrtc.MediaEngine) error {
	exts := []struct {
		uri  string
		kind webrtc.RTPCodecType
	}{
		{"urn:ietf:params:rtp-hdrext:ssrc-audio-level", webrtc.RTPCodecTypeAudio},
		{"urn:ietf:params:rtp-hdrext:sdes:mid", webrtc.RTPCodecTypeAudio},
		{"urn:ietf:params:rtp-hdrext:sdes:mid", webrtc.RTPCodecTypeVideo},
		{"http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", webrtc.RTPCodecTypeVideo},
		{"https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension", webrtc.RTPCodecTypeVideo},
	}
	for _, e := range exts {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, e.kind); err != nil {
			return fmt.Errorf("room: extension %s: %w", e.uri, err)
		}
	}
	return nil
}

func loggerOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
