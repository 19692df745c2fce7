package room

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

// Simulcast layers by quality index (livekit.VideoQuality LOW, MEDIUM, HIGH).
const maxLayers = 3

// keyframeInterval rate-limits the PLIs sent to a publisher per layer.
const keyframeInterval = 500 * time.Millisecond

// audioLevelURI is RFC 6464's client-to-mixer audio level extension.
const audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// PubTrack is one published track: up to three received layers and the down
// tracks that forward it to subscribers.
type PubTrack struct {
	sid       string
	owner     *Participant
	kind      webrtc.RTPCodecType
	simulcast bool

	info atomic.Pointer[livekit.TrackInfo] // immutable snapshot

	mu     sync.Mutex // serialises changes of downs and layers
	downs  atomic.Pointer[[]*DownTrack]
	layers [maxLayers]atomic.Pointer[layer]
	codec  atomic.Pointer[webrtc.RTPCodecParameters]

	// Audio level: loudest level (dBov, 0 loudest, 127 silence) since the
	// room's last speaker tick.
	loudest atomic.Uint32

	closed chan struct{}
	once   sync.Once
}

type layer struct {
	track   *PubTrack
	quality int
	remote  *webrtc.TrackRemote
	ssrc    uint32

	lastPLI atomic.Int64

	// Reception statistics, written by the layer's reader only.
	packets  atomic.Uint64
	bytes    atomic.Uint64
	expected atomic.Uint64
	started  bool
	highest  uint32 // extended highest sequence number
}

func newPubTrack(owner *Participant, info *livekit.TrackInfo, kind webrtc.RTPCodecType) *PubTrack {
	t := &PubTrack{sid: info.Sid, owner: owner, kind: kind, simulcast: info.Simulcast, closed: make(chan struct{})}
	t.info.Store(info)
	t.downs.Store(&[]*DownTrack{})
	t.loudest.Store(127)
	return t
}

// Info is the track's current TrackInfo snapshot (do not modify).
func (t *PubTrack) Info() *livekit.TrackInfo { return t.info.Load() }

// SID is the track's id.
func (t *PubTrack) SID() string { return t.sid }

func (t *PubTrack) updateInfo(f func(*livekit.TrackInfo)) *livekit.TrackInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := proto.Clone(t.info.Load()).(*livekit.TrackInfo)
	f(n)
	t.info.Store(n)
	return n
}

// addLayer records a received layer and reports whether it is new.
func (t *PubTrack) addLayer(l *layer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.layers[l.quality].Load() != nil {
		return false
	}
	c := l.remote.Codec()
	t.codec.CompareAndSwap(nil, &c)
	t.layers[l.quality].Store(l)
	return true
}

// bestLayer is the highest received layer not above want (or the lowest
// received one when none is), -1 when nothing is received yet.
func (t *PubTrack) bestLayer(want int) int {
	for q := want; q >= 0; q-- {
		if t.layers[q].Load() != nil {
			return q
		}
	}
	for q := want + 1; q < maxLayers; q++ {
		if t.layers[q].Load() != nil {
			return q
		}
	}
	return -1
}

func (t *PubTrack) addDown(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.downs.Load()
	n := make([]*DownTrack, 0, len(old)+1)
	n = append(n, old...)
	n = append(n, d)
	t.downs.Store(&n)
}

func (t *PubTrack) removeDown(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.downs.Load()
	n := make([]*DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			n = append(n, x)
		}
	}
	t.downs.Store(&n)
}

// subscribers is the number of down tracks.
func (t *PubTrack) subscribers() int { return len(*t.downs.Load()) }

func (t *PubTrack) close() { t.once.Do(func() { close(t.closed) }) }

// requestKeyframe asks the publisher for a keyframe on layer q, at most once
// per keyframeInterval.
func (t *PubTrack) requestKeyframe(q int) {
	if t.kind != webrtc.RTPCodecTypeVideo || q < 0 || q >= maxLayers {
		return
	}
	l := t.layers[q].Load()
	if l == nil {
		return
	}
	now := time.Now().UnixNano()
	last := l.lastPLI.Load()
	if now-last < int64(keyframeInterval) || !l.lastPLI.CompareAndSwap(last, now) {
		return
	}
	t.owner.writePublisherRTCP(&rtcp.PictureLossIndication{MediaSSRC: l.ssrc})
	t.owner.room.mgr.metrics.pliSent.Inc()
}

// loss returns the fraction of packets lost on the best layer since start.
func (t *PubTrack) loss() float64 {
	for q := maxLayers - 1; q >= 0; q-- {
		if l := t.layers[q].Load(); l != nil {
			exp, got := l.expected.Load(), l.packets.Load()
			if exp == 0 || got >= exp {
				return 0
			}
			return float64(exp-got) / float64(exp)
		}
	}
	return 0
}

// read forwards a received layer until it ends. It runs in its own
// goroutine owned by the publishing participant. Per packet it allocates
// nothing and takes no lock.
func (l *layer) read(levelExt uint8) {
	t := l.track
	m := t.owner.room.mgr.metrics
	buf := make([]byte, 1500)
	var h rtp.Header
	for {
		n, _, err := l.remote.Read(buf)
		if err != nil {
			return
		}
		hl, err := h.Unmarshal(buf[:n])
		if err != nil {
			m.packetsMalformed.Inc()
			continue
		}
		end := n
		if h.Padding {
			pad := int(buf[n-1])
			if pad == 0 || hl+pad > n {
				m.packetsMalformed.Inc()
				continue
			}
			end = n - pad
			h.Padding = false
			h.PaddingSize = 0
		}
		l.count(h.SequenceNumber, n)
		if levelExt != 0 {
			if e := h.GetExtension(levelExt); len(e) > 0 {
				lvl := uint32(e[0] & 0x7f)
				if lvl < t.loudest.Load() {
					t.loudest.Store(lvl)
				}
			}
		}
		if end == hl {
			continue // padding only (bandwidth probe)
		}
		payload := buf[hl:end]
		m.packetsIn.Inc()
		for _, d := range *t.downs.Load() {
			d.write(l.quality, &h, payload)
		}
	}
}

func (l *layer) count(seq uint16, n int) {
	l.packets.Add(1)
	l.bytes.Add(uint64(n))
	if !l.started {
		l.started = true
		l.highest = uint32(seq)
		l.expected.Store(1)
		return
	}
	cycles := l.highest &^ 0xffff
	ext := cycles | uint32(seq)
	if diff := int32(uint16(seq) - uint16(l.highest)); diff > 0 {
		if uint16(seq) < uint16(l.highest) {
			ext += 1 << 16
		}
		l.expected.Add(uint64(diff))
		l.highest = ext
	}
}
