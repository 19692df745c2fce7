package record

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spacecast/spacecast/edge/codec"
)

// Errors.
var (
	// ErrConfig marks an unusable Config or TrackInfo.
	ErrConfig = errors.New("record: invalid config")
	// ErrCodec marks a codec the package does not record, or a payload it
	// cannot read.
	ErrCodec = errors.New("record: codec")
	// ErrWrite marks a failed write (file creation, data, manifest): the
	// recording ends as failed.
	ErrWrite = errors.New("record: write failed")
	// ErrEnded is returned by AddTrack once the recording has ended.
	ErrEnded = errors.New("record: recording ended")
	// ErrInterrupted is what Run returns when its context ends before Stop.
	ErrInterrupted = errors.New("record: interrupted")
)

// Defaults.
const (
	DefaultReportWait   = 10 * time.Second
	DefaultLayerIdle    = time.Second
	DefaultVideoPackets = 1024
	DefaultAudioPackets = 128
	// maxPacket is the largest RTP packet kept (an Ethernet MTU).
	maxPacket = 1500
	// maxLayers is the most simulcast layers a track has.
	maxLayers = 4
	// maxWaitBytes bounds the frames of one stream waiting for its first
	// sender report.
	maxWaitBytes = 16 << 20
)

// Config describes one recording. Zero values mean defaults.
type Config struct {
	// ID names the recording in the manifest (required).
	ID string
	// Room is the room's name, for the manifest.
	Room string
	// Dir is where the files go; Run creates it (required unless FS is
	// set).
	Dir string
	// FS creates the files (default: the operating system's, in Dir).
	FS FS
	// Log receives the recording's events (default: discarded).
	Log *slog.Logger
	// Now is the wall clock (default time.Now). Taps stamp each packet and
	// report with it as they receive it.
	Now func() time.Time
	// ReportWait is how long a stream's frames wait for its first sender
	// report before they are timed by their arrival.
	ReportWait time.Duration
	// LayerIdle is how long a simulcast layer may go without packets and
	// still count as received.
	LayerIdle time.Duration
	// VideoPackets and AudioPackets size each track's pool of packet
	// slots (1500 bytes each): what waits for Run plus what the
	// samplebuilders hold for reordering.
	VideoPackets, AudioPackets int
}

func (c *Config) validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: no ID", ErrConfig)
	case c.Dir == "" && c.FS == nil:
		return fmt.Errorf("%w: no Dir", ErrConfig)
	case c.ReportWait < 0 || c.LayerIdle < 0 || c.VideoPackets < 0 || c.AudioPackets < 0:
		return fmt.Errorf("%w: negative duration or size", ErrConfig)
	case c.VideoPackets != 0 && c.VideoPackets < 2*videoMaxLate+64:
		return fmt.Errorf("%w: VideoPackets %d below %d", ErrConfig, c.VideoPackets, 2*videoMaxLate+64)
	case c.AudioPackets != 0 && c.AudioPackets < audioMaxLate+32:
		return fmt.Errorf("%w: AudioPackets %d below %d", ErrConfig, c.AudioPackets, audioMaxLate+32)
	}
	if c.FS == nil {
		c.FS = DirFS(c.Dir)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ReportWait == 0 {
		c.ReportWait = DefaultReportWait
	}
	if c.LayerIdle == 0 {
		c.LayerIdle = DefaultLayerIdle
	}
	if c.VideoPackets == 0 {
		c.VideoPackets = DefaultVideoPackets
	}
	if c.AudioPackets == 0 {
		c.AudioPackets = DefaultAudioPackets
	}
	return nil
}

// Track sources, as LiveKit names them (livekit.TrackSource, lower case).
const (
	SourceCamera           = "camera"
	SourceMicrophone       = "microphone"
	SourceScreenShare      = "screen_share"
	SourceScreenShareAudio = "screen_share_audio"
)

// TrackInfo describes a published track to record.
type TrackInfo struct {
	// Participant is the publisher's identity (required): with Source it
	// says which earlier track a republished one continues.
	Participant string
	// ParticipantName and ParticipantSID are for the manifest.
	ParticipantName, ParticipantSID string
	// TrackSID and Name are for the manifest.
	TrackSID, Name string
	// Source is the track's source (SourceCamera, ...); "" when unknown,
	// in which case the Name tells a republished track.
	Source string
	// MimeType is the negotiated codec, e.g. "video/VP8", "audio/opus",
	// "audio/red" (required).
	MimeType string
	// ClockRate is the RTP clock rate (default 90 kHz for video, 48 kHz
	// for audio).
	ClockRate uint32
	// Layers is the number of simulcast layers, 1..4 (default 1).
	Layers int
	// Width and Height are the size to write in a video file's header if
	// its first keyframe does not say (optional).
	Width, Height int
	// RequestKeyframe asks the publisher for a keyframe on a layer
	// (optional; called from Run's goroutine, must not block).
	RequestKeyframe func(layer int)
}

func (ti *TrackInfo) validate() (codec.Kind, error) {
	k := codec.KindFromMime(ti.MimeType)
	switch {
	case ti.Participant == "":
		return k, fmt.Errorf("%w: track without a participant", ErrConfig)
	case !recordable(k):
		return k, fmt.Errorf("%w: %q is not recorded", ErrCodec, ti.MimeType)
	case ti.Layers < 0 || ti.Layers > maxLayers:
		return k, fmt.Errorf("%w: %d layers", ErrConfig, ti.Layers)
	}
	if ti.Layers == 0 {
		ti.Layers = 1
	}
	if ti.ClockRate == 0 {
		ti.ClockRate = 48000
		if k.IsVideo() {
			ti.ClockRate = 90000
		}
	}
	return k, nil
}

// key is what a republished track shares with the one it continues.
func (ti *TrackInfo) key(k codec.Kind) string {
	kind := "audio"
	if k.IsVideo() {
		kind = "video"
	}
	s := ti.Source
	if s == "" {
		s = "name:" + ti.Name
	}
	return ti.Participant + "\x00" + kind + "\x00" + s
}

// fileStem is a file-system-safe name for a track's files.
func fileStem(n int, ti *TrackInfo, kind string) string {
	var b strings.Builder
	for _, r := range ti.Participant {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	src := ti.Source
	if src == "" {
		src = kind
	}
	return fmt.Sprintf("%02d-%s-%s", n, b.String(), src)
}
