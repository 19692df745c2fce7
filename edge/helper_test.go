package edge

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// The helper participant runs in a child process inside a network
// namespace (the SDK gathers ICE on every non-loopback interface, so it must
// not run in the test's own namespace). The test drives it with commands on
// stdin and reads JSON events on stdout:
//
//	stdin:  "publish", "simulcast", "audio", "mute video", "unmute video", "stats",
//	        "quality <track> low|medium|high", "unpublish video", "reconnect",
//	        "data <reliable|lossy> <dest|*> <payload>", "ice", "quit"
//	stdout: {"ev":"connected"|"published"|"subscribed"|"muted"|"unmuted"|
//	         "unpublished"|"reconnecting"|"reconnected"|"quality"|
//	         "data"|"disconnected"|"error"|"report"|"ice", ...}
//
// Optional environment: SC_ICE_POLICY=relay connects relay-only
// (iceTransportPolicy: relay); SC_CONNECT_TIMEOUT (a duration) replaces the
// SDK's connect timeout.
const helperEnv = "SPACECAST_EDGE_HELPER"

type event struct {
	Ev       string                 `json:"ev"`
	SID      string                 `json:"sid,omitempty"`
	Kind     string                 `json:"kind,omitempty"`
	Track    string                 `json:"track,omitempty"`
	From     string                 `json:"from,omitempty"`
	Payload  string                 `json:"payload,omitempty"`
	Reason   string                 `json:"reason,omitempty"`
	Msg      string                 `json:"msg,omitempty"`
	Received map[string]trackReport `json:"received,omitempty"`
	Pairs    map[string]icePair     `json:"pairs,omitempty"` // "ice": by peer connection
}

// icePair is the selected ICE candidate pair of one peer connection.
type icePair struct {
	Local         string `json:"local"`         // candidate type: host, srflx, prflx, relay
	RelayProtocol string `json:"relayProtocol"` // udp, tcp or tls to the TURN server (relay only)
	Remote        string `json:"remote"`
	RemoteAddr    string `json:"remoteAddr"`
}

type trackReport struct {
	Kind     string `json:"kind"`
	Packets  int    `json:"packets"`
	Gaps     int    `json:"gaps"`
	LastSize int    `json:"lastSize"` // payload bytes of the newest packet
	// SenderReports counts RTCP sender reports for the track's SSRC.
	SenderReports int `json:"senderReports"`
}

func helperMain() int {
	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	emit := func(e event) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = out.Encode(e)
	}
	var mu sync.Mutex
	received := map[string]*trackReport{}
	remotes := map[string]*lksdk.RemoteTrackPublication{}
	cb := lksdk.NewRoomCallback()
	cb.OnReconnected = func() { emit(event{Ev: "reconnected"}) }
	cb.OnReconnecting = func() { emit(event{Ev: "reconnecting"}) }
	cb.OnConnectionQualityChanged = func(u *livekit.ConnectionQualityInfo, p lksdk.Participant) {
		emit(event{Ev: "quality", From: p.Identity(), Msg: u.Quality.String()})
	}
	cb.OnTrackUnpublished = func(pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		emit(event{Ev: "unpublished", Track: pub.SID(), From: rp.Identity()})
	}
	cb.OnTrackSubscribed = func(track *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		sid := pub.SID()
		mu.Lock()
		remotes[sid] = pub
		rep := &trackReport{Kind: track.Kind().String()}
		received[sid] = rep
		mu.Unlock()
		emit(event{Ev: "subscribed", Track: sid, Kind: track.Kind().String(), From: rp.Identity()})
		if r := pub.Receiver(); r != nil {
			go func() {
				for {
					pkts, _, err := r.ReadRTCP()
					if err != nil {
						return
					}
					for _, p := range pkts {
						if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == uint32(track.SSRC()) {
							mu.Lock()
							rep.SenderReports++
							mu.Unlock()
						}
					}
				}
			}()
		}
		go func() {
			var last uint16
			first := true
			for {
				pkt, _, err := track.ReadRTP()
				if err != nil {
					return
				}
				mu.Lock()
				rep.Packets++
				rep.LastSize = len(pkt.Payload)
				if !first {
					if d := pkt.SequenceNumber - last; d > 1 && d < 0x8000 {
						rep.Gaps += int(d - 1)
					}
				}
				if first || pkt.SequenceNumber-last < 0x8000 {
					last = pkt.SequenceNumber
				}
				first = false
				mu.Unlock()
			}
		}()
	}
	cb.OnTrackMuted = func(pub lksdk.TrackPublication, p lksdk.Participant) {
		emit(event{Ev: "muted", Track: pub.SID(), From: p.Identity()})
	}
	cb.OnTrackUnmuted = func(pub lksdk.TrackPublication, p lksdk.Participant) {
		emit(event{Ev: "unmuted", Track: pub.SID(), From: p.Identity()})
	}
	cb.OnDataPacket = func(data lksdk.DataPacket, params lksdk.DataReceiveParams) {
		if u, ok := data.(*lksdk.UserDataPacket); ok {
			emit(event{Ev: "data", From: params.SenderIdentity, Payload: string(u.Payload)})
		}
	}
	cb.OnDisconnectedWithReason = func(reason lksdk.DisconnectionReason) {
		emit(event{Ev: "disconnected", Reason: string(reason)})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	pubs := map[string]*lksdk.LocalTrackPublication{}
	opts := []lksdk.ConnectOption{lksdk.WithAutoSubscribe(true)}
	if os.Getenv("SC_ICE_POLICY") == "relay" {
		opts = append(opts, lksdk.WithICETransportPolicy(webrtc.ICETransportPolicyRelay))
	}
	if d, err := time.ParseDuration(os.Getenv("SC_CONNECT_TIMEOUT")); err == nil {
		opts = append(opts, lksdk.WithConnectTimeout(d))
	}
	room, err := lksdk.ConnectToRoomWithToken(os.Getenv("SC_URL"), os.Getenv("SC_TOKEN"), cb, opts...)
	if err != nil {
		emit(event{Ev: "error", Msg: "connect: " + err.Error()})
		return 1
	}
	emit(event{Ev: "connected", SID: room.LocalParticipant.SID()})

	// VP8 (RFC 6386 §9.1): a keyframe every 30 frames (bit 0 of the first
	// byte clear, start code 9d 01 2a), interframes between.
	vp8 := func(i int, b []byte) {
		if i%30 == 0 {
			copy(b, []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00})
			return
		}
		b[0] = 0x11
	}
	publishAudio := func() (*lksdk.LocalSampleTrack, error) {
		audio, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
		if err != nil {
			return nil, err
		}
		ap, err := room.LocalParticipant.PublishTrack(audio, &lksdk.TrackPublicationOptions{Name: "mic", Source: livekit.TrackSource_MICROPHONE})
		if err != nil {
			return nil, fmt.Errorf("publish audio: %w", err)
		}
		pubs["audio"] = ap
		emit(event{Ev: "published", Kind: "audio", SID: ap.SID()})
		return audio, nil
	}
	publish := func() error {
		video, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000})
		if err != nil {
			return err
		}
		vp, err := room.LocalParticipant.PublishTrack(video, &lksdk.TrackPublicationOptions{Name: "camera", Source: livekit.TrackSource_CAMERA, VideoWidth: 320, VideoHeight: 240})
		if err != nil {
			return fmt.Errorf("publish video: %w", err)
		}
		pubs["video"] = vp
		emit(event{Ev: "published", Kind: "video", SID: vp.SID()})
		audio, err := publishAudio()
		if err != nil {
			return err
		}
		write := func(t *lksdk.LocalTrack, every time.Duration, size func(i int) int, frame func(i int, b []byte)) {
			defer wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				b := make([]byte, size(i))
				frame(i, b)
				_ = t.WriteSample(media.Sample{Data: b, Duration: every}, nil)
			}
		}
		wg.Add(2)
		// Interframes fit one packet; keyframes take three (as real ones
		// do), so the edge's per-frame fan-out has frames to batch.
		videoSize := func(i int) int {
			if i%30 == 0 {
				return 3000
			}
			return 600
		}
		go write(video, 33*time.Millisecond, videoSize, vp8)
		go write(audio, 20*time.Millisecond, func(int) int { return 60 }, func(_ int, b []byte) { b[0] = 0x78 })
		return nil
	}
	// audioOnly publishes an Opus track alone (beside "simulcast").
	audioOnly := func() error {
		audio, err := publishAudio()
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				_ = audio.WriteSample(media.Sample{Data: []byte{0x78, 1, 2, 3, 4, 5, 6, 7}, Duration: 20 * time.Millisecond}, nil)
			}
		}()
		return nil
	}

	publishSimulcast := func() error {
		var tracks []*lksdk.LocalTrack
		sizes := map[livekit.VideoQuality]int{livekit.VideoQuality_LOW: 200, livekit.VideoQuality_MEDIUM: 500, livekit.VideoQuality_HIGH: 900}
		for _, l := range []*livekit.VideoLayer{
			{Quality: livekit.VideoQuality_LOW, Width: 160, Height: 120},
			{Quality: livekit.VideoQuality_MEDIUM, Width: 320, Height: 240},
			{Quality: livekit.VideoQuality_HIGH, Width: 640, Height: 480},
		} {
			t, err := lksdk.NewLocalTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, lksdk.WithSimulcast("sim", l))
			if err != nil {
				return err
			}
			tracks = append(tracks, t)
			wg.Add(1)
			go func(t *lksdk.LocalTrack, size int) {
				defer wg.Done()
				tick := time.NewTicker(33 * time.Millisecond)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					b := make([]byte, size)
					vp8(i, b)
					_ = t.WriteSample(media.Sample{Data: b, Duration: 33 * time.Millisecond}, nil)
				}
			}(t, sizes[l.Quality])
		}
		p, err := room.LocalParticipant.PublishSimulcastTrack(tracks, &lksdk.TrackPublicationOptions{Name: "sim", Source: livekit.TrackSource_CAMERA, VideoWidth: 640, VideoHeight: 480})
		if err != nil {
			return fmt.Errorf("publish simulcast: %w", err)
		}
		pubs["video"] = p
		emit(event{Ev: "published", Kind: "video", SID: p.SID()})
		return nil
	}

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.SplitN(in.Text(), " ", 4)
		switch f[0] {
		case "publish":
			if err := publish(); err != nil {
				emit(event{Ev: "error", Msg: err.Error()})
			}
		case "simulcast":
			if err := publishSimulcast(); err != nil {
				emit(event{Ev: "error", Msg: err.Error()})
			}
		case "audio":
			if err := audioOnly(); err != nil {
				emit(event{Ev: "error", Msg: err.Error()})
			}
		case "quality":
			mu.Lock()
			p := remotes[f[1]]
			mu.Unlock()
			q := map[string]livekit.VideoQuality{"low": livekit.VideoQuality_LOW, "medium": livekit.VideoQuality_MEDIUM, "high": livekit.VideoQuality_HIGH}[f[2]]
			if p != nil {
				_ = p.SetVideoQuality(q)
			}
		case "unpublish":
			if p := pubs[f[1]]; p != nil {
				if err := room.LocalParticipant.UnpublishTrack(p.SID()); err != nil {
					emit(event{Ev: "error", Msg: "unpublish: " + err.Error()})
				}
			}
		case "reconnect":
			room.Simulate(lksdk.SimulateSignalReconnect)
		case "mute", "unmute":
			if p := pubs[f[1]]; p != nil {
				p.SetMuted(f[0] == "mute")
			}
		case "data":
			if len(f) < 4 {
				continue
			}
			opts := []lksdk.DataPublishOption{lksdk.WithDataPublishReliable(f[1] == "reliable")}
			if f[2] != "*" {
				opts = append(opts, lksdk.WithDataPublishDestination([]string{f[2]}))
			}
			if err := room.LocalParticipant.PublishDataPacket(lksdk.UserData([]byte(f[3])), opts...); err != nil {
				emit(event{Ev: "error", Msg: "data: " + err.Error()})
			}
		case "ice":
			emit(event{Ev: "ice", Pairs: map[string]icePair{
				"publisher":  selectedPair(room.LocalParticipant.GetPublisherPeerConnection()),
				"subscriber": selectedPair(room.LocalParticipant.GetSubscriberPeerConnection()),
			}})
		case "stats", "quit":
			if f[0] == "quit" {
				close(stop)
				wg.Wait()
			}
			mu.Lock()
			rep := map[string]trackReport{}
			for k, v := range received {
				rep[k] = *v
			}
			mu.Unlock()
			emit(event{Ev: "report", Received: rep})
			if f[0] == "quit" {
				room.Disconnect()
				return 0
			}
		}
	}
	return 0
}

// selectedPair reads a peer connection's selected candidate pair from its
// stats: the nominated succeeded pair, else the succeeded pair that carried
// the most bytes (zero when there is none).
func selectedPair(pc *webrtc.PeerConnection) icePair {
	if pc == nil {
		return icePair{}
	}
	report := pc.GetStats()
	var best webrtc.ICECandidatePairStats
	found := false
	for _, st := range report {
		cp, ok := st.(webrtc.ICECandidatePairStats)
		if !ok || cp.State != webrtc.StatsICECandidatePairStateSucceeded {
			continue
		}
		better := !found || (cp.Nominated && !best.Nominated) ||
			(cp.Nominated == best.Nominated && cp.BytesReceived+cp.BytesSent > best.BytesReceived+best.BytesSent)
		if better {
			best, found = cp, true
		}
	}
	if !found {
		return icePair{}
	}
	l, _ := report[best.LocalCandidateID].(webrtc.ICECandidateStats)
	r, _ := report[best.RemoteCandidateID].(webrtc.ICECandidateStats)
	return icePair{
		Local: l.CandidateType.String(), RelayProtocol: l.RelayProtocol,
		Remote: r.CandidateType.String(), RemoteAddr: net.JoinHostPort(r.IP, strconv.Itoa(int(r.Port))),
	}
}
