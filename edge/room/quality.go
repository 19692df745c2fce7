package room

import (
	"math"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/simulcast"
)

// Connection quality (LiveKit's ConnectionQualityUpdate), as livekit-server
// rates it: each path a participant's media takes is given a simplified
// E-model rating (ITU-T G.107's R factor, 0 to 100) from its loss, round
// trip and jitter, and each video track it receives a rating from how far
// the layer it gets is from the one it asked for; the participant's
// quality is the worst of them, smoothed (it falls faster than it rises),
// above 80 excellent, above 40 good, else poor. The room sends everyone
// every participant's quality every qualityEvery ticks, so the page can
// show who has a bad connection. Each edge rates its own participants and
// sends the ratings to the room's other edges (spanQuality), which pass
// them on to their participants with their own.

// Rating constants.
const (
	maxRating      = 100.0
	excellentAbove = 80.0
	goodAbove      = 40.0
	// distanceCost is what each layer below the wanted one costs: one
	// layer short of 720p is good, two are poor.
	distanceCost = 35.0
	// pausedDistance is the distance of a paused video: no picture.
	pausedDistance = 3.0
	// riseWeight and fallWeight weigh a new rating against the old one.
	riseWeight = 0.4
	fallWeight = 0.7
)

// pathRating is the E-model rating of a path: 100 less the effect of its
// effective delay (half the round trip plus twice the jitter: 1 point per
// 40 ms up to 160 ms, 1 per 10 ms beyond 120 ms past that) less its loss
// in percent.
func pathRating(rtt, jitter time.Duration, loss float64) float64 {
	delay := float64(rtt/2+2*jitter) / float64(time.Millisecond)
	effect := delay / 40
	if delay > 160 {
		effect = (delay - 120) / 10
	}
	return min(max(maxRating-effect-100*loss, 0), maxRating)
}

// layerDistance is how far a video track's allocation is from what its
// request wants: the spatial layers missing, half a layer more at a
// reduced frame rate, pausedDistance when paused; 0 when it wants nothing.
func layerDistance(al simulcast.Allocation) float64 {
	switch {
	case !al.Wanted.On():
		return 0
	case !al.Pick.On():
		return pausedDistance
	}
	d := float64(al.Wanted.Spatial - al.Pick.Spatial)
	if al.Pick.Temporal < al.Wanted.Temporal {
		d += 0.5
	}
	return d
}

// layerRating is the rating of a received video track distance layers
// below what it wants.
func layerRating(distance float64) float64 {
	return min(max(maxRating-distanceCost*distance, 0), maxRating)
}

// qualityOf maps a rating to LiveKit's three levels.
func qualityOf(r float64) livekit.ConnectionQuality {
	switch {
	case r > excellentAbove:
		return livekit.ConnectionQuality_EXCELLENT
	case r > goodAbove:
		return livekit.ConnectionQuality_GOOD
	}
	return livekit.ConnectionQuality_POOR
}

// mosOf is the mean opinion score (1 to 4.5) of a rating (G.107 Annex B),
// the Score of a ConnectionQualityInfo.
func mosOf(r float64) float32 {
	switch {
	case r <= 0:
		return 1
	case r >= maxRating:
		return 4.5
	}
	return float32(1 + 0.035*r + 7e-6*r*(r-60)*(100-r))
}

// smooth moves the rating old towards r (old 0: none yet).
func smooth(old, r float64) float64 {
	switch {
	case old == 0:
		return r
	case r < old:
		return fallWeight*r + (1-fallWeight)*old
	}
	return riseWeight*r + (1-riseWeight)*old
}

// rateDownstream rates what the participant receives (loop only): each
// down track's path from its receiver reports (fraction lost, jitter) and
// the round trip, and for video the layer it gets against the one it
// wants; the worst counts. The room reads it (downScore).
func (p *Participant) rateDownstream() {
	r := maxRating
	rtt := time.Duration(p.rtt.Load())
	for _, d := range p.downs {
		if !d.down.Bound() {
			continue
		}
		loss := float64(d.fractionLost.Load()) / 256
		jitter := time.Duration(d.jitterMicros.Load()) * time.Microsecond
		r = min(r, pathRating(rtt, jitter, loss))
		if d.track.kind == webrtc.RTPCodecTypeVideo {
			r = min(r, layerRating(float64(d.distance.Load())/100))
		}
	}
	p.downScore.Store(math.Float64bits(r))
}

// downRating is the participant's last downstream rating.
func (p *Participant) downRating() float64 {
	b := p.downScore.Load()
	if b == 0 {
		return maxRating
	}
	return math.Float64frombits(b)
}

// upstream is what a published track's readers counted at the last
// quality rating: the loss since is what the publisher's path lost.
type upstream struct{ expected, received uint64 }

// upLoss is the fraction of the track's packets lost on their way from
// the publisher since the last call (the room's goroutine only).
func (t *PubTrack) upLoss() float64 {
	exp, got := t.media.Reception()
	de, dg := exp-min(exp, t.up.expected), got-min(got, t.up.received)
	t.up = upstream{exp, got}
	if de == 0 || dg >= de {
		return 0
	}
	return float64(de-dg) / float64(de)
}

// qualityInfos rates every visible participant (the room's goroutine
// only): the worst of its published tracks' upstream paths (their loss;
// the round trip to the participant, measured on what it receives, as
// livekit-server does without RTCP XR) and of what it receives; and
// returns the infos and who to send them to.
func (r *Room) qualityInfos() ([]*livekit.ConnectionQualityInfo, []*Participant) {
	r.mu.Lock()
	ps := r.participantsLocked()
	up := map[*Participant]float64{}
	for _, t := range r.tracks {
		if t.owner == nil {
			continue // relayed: its publisher's edge rates it
		}
		rating := pathRating(time.Duration(t.owner.rtt.Load()), 0, t.upLoss())
		if cur, ok := up[t.owner]; !ok || rating < cur {
			up[t.owner] = rating
		}
	}
	r.mu.Unlock()
	var infos []*livekit.ConnectionQualityInfo
	for _, p := range ps {
		if p.hidden {
			continue
		}
		rating := p.downRating()
		if u, ok := up[p]; ok {
			rating = min(rating, u)
		}
		p.quality = smooth(p.quality, rating)
		q, score := qualityOf(p.quality), mosOf(p.quality)
		if p.Info().State != livekit.ParticipantInfo_ACTIVE {
			q, score = livekit.ConnectionQuality_POOR, 1
		}
		infos = append(infos, &livekit.ConnectionQualityInfo{ParticipantSid: p.sid, Quality: q, Score: score})
	}
	return infos, ps
}

// takeRemoteQuality keeps the ratings peer sent of its participants; one
// naming a participant that is not peer's is ignored.
func (r *Room) takeRemoteQuality(peer string, infos []*livekit.ConnectionQualityInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, in := range infos {
		for _, rp := range r.remote {
			if rp.node == peer && rp.info.Sid == in.ParticipantSid {
				rp.quality = &livekit.ConnectionQualityInfo{ParticipantSid: in.ParticipantSid, Quality: in.Quality, Score: in.Score}
				break
			}
		}
	}
}

// remoteQualities is the last rating of each visible participant on
// another edge, as its edge made it.
func (r *Room) remoteQualities() []*livekit.ConnectionQualityInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*livekit.ConnectionQualityInfo
	for _, rp := range r.remote {
		if rp.quality != nil && !rp.info.Permission.GetHidden() {
			out = append(out, rp.quality)
		}
	}
	return out
}

// RemoteQuality is the connection quality of a participant on another
// edge as its edge last rated it (nil: not rated yet, or not a remote
// participant).
func (r *Room) RemoteQuality(identity string) *livekit.ConnectionQualityInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rp := r.remote[identity]; rp != nil {
		return rp.quality
	}
	return nil
}
