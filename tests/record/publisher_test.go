package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// The publisher runs in a child process inside a network namespace (the
// SDK gathers ICE on every interface but loopback). It joins with
// SC_URL and SC_TOKEN and publishes, in a loop, the VP8 frames of the IVF
// file SC_IVF as its camera and the Opus packets of the Ogg file SC_OGG
// as its microphone, each at its own pace. It says {"ev":"connected"},
// {"ev":"published","kind":...} and {"ev":"error","msg":...} on stdout
// and leaves when its stdin closes.
const publisherEnv = "SPACECAST_RECORD_PUBLISHER"

type event struct {
	Ev   string `json:"ev"`
	Kind string `json:"kind,omitempty"`
	SID  string `json:"sid,omitempty"`
	Msg  string `json:"msg,omitempty"`
}

func publisherMain() int {
	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	emit := func(e event) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = out.Encode(e)
	}
	ivf, err := os.ReadFile(os.Getenv("SC_IVF"))
	if err != nil {
		emit(event{Ev: "error", Msg: err.Error()})
		return 1
	}
	ogg, err := os.ReadFile(os.Getenv("SC_OGG"))
	if err != nil {
		emit(event{Ev: "error", Msg: err.Error()})
		return 1
	}
	room, err := lksdk.ConnectToRoomWithToken(os.Getenv("SC_URL"), os.Getenv("SC_TOKEN"), lksdk.NewRoomCallback(), lksdk.WithAutoSubscribe(false))
	if err != nil {
		emit(event{Ev: "error", Msg: "connect: " + err.Error()})
		return 1
	}
	defer room.Disconnect()
	emit(event{Ev: "connected", SID: room.LocalParticipant.SID()})
	// An encoder makes a keyframe when asked (a PLI): the player skips
	// to the file's next one.
	var keyframe atomic.Bool
	video, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		lksdk.WithRTCPHandler(func(p rtcp.Packet) {
			if _, ok := p.(*rtcp.PictureLossIndication); ok {
				keyframe.Store(true)
			}
		}))
	if err != nil {
		emit(event{Ev: "error", Msg: err.Error()})
		return 1
	}
	vp, err := room.LocalParticipant.PublishTrack(video, &lksdk.TrackPublicationOptions{Name: "camera", Source: livekit.TrackSource_CAMERA, VideoWidth: 320, VideoHeight: 240})
	if err != nil {
		emit(event{Ev: "error", Msg: "publish video: " + err.Error()})
		return 1
	}
	emit(event{Ev: "published", Kind: "video", SID: vp.SID()})
	audio, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	if err != nil {
		emit(event{Ev: "error", Msg: err.Error()})
		return 1
	}
	ap, err := room.LocalParticipant.PublishTrack(audio, &lksdk.TrackPublicationOptions{Name: "microphone", Source: livekit.TrackSource_MICROPHONE})
	if err != nil {
		emit(event{Ev: "error", Msg: "publish audio: " + err.Error()})
		return 1
	}
	emit(event{Ev: "published", Kind: "audio", SID: ap.SID()})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := playIVF(ivf, video, &keyframe, stop); err != nil {
			emit(event{Ev: "error", Msg: "video: " + err.Error()})
		}
	}()
	go func() {
		defer wg.Done()
		if err := playOgg(ogg, audio, stop); err != nil {
			emit(event{Ev: "error", Msg: "audio: " + err.Error()})
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() { // until stdin closes
	}
	close(stop)
	wg.Wait()
	return 0
}

// playIVF writes the file's frames at its frame rate, from the start
// again at its end, until stop; when keyframe is set it goes on from the
// next keyframe (VP8: bit 0 of the first byte clear, RFC 6386 §9.1).
func playIVF(file []byte, t *lksdk.LocalSampleTrack, keyframe *atomic.Bool, stop <-chan struct{}) error {
	for {
		r, h, err := ivfreader.NewWith(bytes.NewReader(file))
		if err != nil {
			return err
		}
		every := time.Second * time.Duration(h.TimebaseNumerator) / time.Duration(h.TimebaseDenominator)
		if every <= 0 {
			return fmt.Errorf("ivf time base %d/%d", h.TimebaseNumerator, h.TimebaseDenominator)
		}
		tick := time.NewTicker(every)
		for {
			frame, _, err := r.ParseNextFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				tick.Stop()
				return err
			}
			if keyframe.Load() {
				if len(frame) == 0 || frame[0]&1 != 0 {
					continue
				}
				keyframe.Store(false)
			}
			select {
			case <-stop:
				tick.Stop()
				return nil
			case <-tick.C:
			}
			if err := t.WriteSample(media.Sample{Data: frame, Duration: every}, nil); err != nil {
				tick.Stop()
				return err
			}
		}
		tick.Stop()
	}
}

// playOgg writes the file's Opus packets (one per page, 20 ms each), from
// the start again at its end, until stop.
func playOgg(file []byte, t *lksdk.LocalSampleTrack, stop <-chan struct{}) error {
	const every = 20 * time.Millisecond
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		r, _, err := oggreader.NewWith(bytes.NewReader(file))
		if err != nil {
			return err
		}
		for {
			page, _, err := r.ParseNextPage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if bytes.HasPrefix(page, []byte("OpusTags")) {
				continue
			}
			select {
			case <-stop:
				return nil
			case <-tick.C:
			}
			if err := t.WriteSample(media.Sample{Data: page, Duration: every}, nil); err != nil {
				return err
			}
		}
	}
}
