package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/record"
)

// A room is recorded by one edge at a time, whatever the number of edges
// it spans: that edge taps every track of the room, its own publishers'
// and the ones it relays from the other edges (it pulls the best layer of
// each, whether or not a subscriber here watches it), into an
// edge/record Recording. The other edges hear of the recording over the
// room state (spanRecording), refuse a second one, pass a stop on to the
// recording edge, and tell their participants: the LiveKit room's
// active_recording flag is set on every edge of the room.

// Errors of recordings.
var (
	// ErrRecording: the room is being recorded already (here or on
	// another edge).
	ErrRecording = errors.New("room: the room is being recorded already")
	// ErrNotRecording: no such recording runs in the room.
	ErrNotRecording = errors.New("room: no such recording in the room")
)

// Ends of a recording the room decides (StartRecording's onEnd).
var (
	// ErrRoomClosed: the room closed on this edge while it was recorded.
	ErrRoomClosed = errors.New("room: the room closed")
	// ErrSuperseded: another edge started recording the room at the same
	// moment and kept its recording (the earlier start wins).
	ErrSuperseded = errors.New("room: another edge records the room")
)

// RecordingInfo describes a recording running in a room.
type RecordingInfo struct {
	ID string
	// Node is the edge that records (this edge's NodeID when local).
	Node      string
	StartedAt time.Time
}

// roomRecording is the recording this edge makes of a room.
type roomRecording struct {
	RecordingInfo
	rec   *record.Recording
	taps  map[string]*record.Track // by track sid
	onEnd func(error)
	// emptySince is when the room last had nobody on any edge (zero: it
	// has somebody).
	emptySince time.Time
}

// spanRecordingState is the body of spanRecording: the recording a host
// makes of the room, or none.
type spanRecordingState struct {
	ID        string `json:"id,omitempty"` // "": none
	StartedAt int64  `json:"at,omitempty"` // Unix ms
	Stop      string `json:"stop,omitempty"`
}

// StartRecording records the room into rec under id from now on: every
// track published here or relayed from another edge, present or to come,
// until StopRecording, the room's end on this edge or its being empty on
// every edge for Config.RecordingGrace. onEnd is called once, from its own
// goroutine, when the room ends the recording itself (nil: the call ended,
// ErrRoomClosed, ErrSuperseded); not after StopRecording. The caller runs
// and stops rec. ErrRecording when the room is recorded already, here or
// on another edge.
func (r *Room) StartRecording(id string, rec *record.Recording, onEnd func(error)) error {
	if id == "" || rec == nil || onEnd == nil {
		return fmt.Errorf("room: StartRecording needs an id, a recording and onEnd")
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	if cur, ok := r.recordingLocked(); ok {
		r.mu.Unlock()
		return fmt.Errorf("%w: %s on %s", ErrRecording, cur.ID, cur.Node)
	}
	rr := &roomRecording{RecordingInfo: RecordingInfo{ID: id, Node: r.mgr.cfg.NodeID, StartedAt: rec.Start()},
		rec: rec, taps: map[string]*record.Track{}, onEnd: onEnd}
	r.rec = rr
	tracks := make([]*PubTrack, 0, len(r.tracks))
	for _, t := range r.tracks {
		tracks = append(tracks, t)
	}
	r.mu.Unlock()
	r.log.Info("recording started", "recording", id, "tracks", len(tracks))
	for _, t := range tracks {
		r.recordTrack(rr, t)
	}
	r.recordingChanged()
	return nil
}

// StopRecording ends this edge's recording id of the room: the tracks are
// no longer tapped (the caller then stops the record.Recording). When
// another edge records the room under id, the stop goes to that edge
// (waiting for a link until ctx ends). ErrNotRecording when no recording
// id runs in the room.
func (r *Room) StopRecording(ctx context.Context, id string) error {
	r.mu.Lock()
	rr := r.rec
	if rr != nil && rr.ID == id {
		r.rec = nil
		r.mu.Unlock()
		r.detachRecording(rr)
		r.recordingChanged()
		return nil
	}
	node := ""
	for n, info := range r.remoteRecs {
		if info.ID == id {
			node = n
		}
	}
	r.mu.Unlock()
	if node == "" || r.mgr.relay == nil {
		return fmt.Errorf("%w: %q", ErrNotRecording, id)
	}
	b, _ := json.Marshal(spanRecordingState{Stop: id})
	return r.sendTo(ctx, node, appendSpan(spanRecording, r.name, b))
}

// Recording is the recording running in the room, here or on another
// edge.
func (r *Room) Recording() (RecordingInfo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recordingLocked()
}

func (r *Room) recordingLocked() (RecordingInfo, bool) {
	if r.rec != nil {
		return r.rec.RecordingInfo, true
	}
	var best RecordingInfo
	found := false
	for _, info := range r.remoteRecs {
		if !found || earlier(info, best) {
			best, found = info, true
		}
	}
	return best, found
}

// earlier orders two recordings of one room: the earlier start, then the
// lower node id, wins a tie of two edges that started at once.
func earlier(a, b RecordingInfo) bool {
	if !a.StartedAt.Equal(b.StartedAt) {
		return a.StartedAt.Before(b.StartedAt)
	}
	return a.Node < b.Node
}

// recordTrack taps t into the recording (a track published or relayed
// while it runs).
func (r *Room) recordTrack(rr *roomRecording, t *PubTrack) {
	info := t.Info()
	c := t.codec.Load()
	if info == nil || c == nil {
		return
	}
	ti := record.TrackInfo{
		Participant: t.ownerIdentity, ParticipantSID: t.ownerSID, ParticipantName: r.nameOf(t.ownerIdentity),
		TrackSID: t.sid, Name: info.Name, Source: sourceOf(info.Source),
		MimeType: c.MimeType, ClockRate: c.ClockRate, Layers: t.media.Layers(),
		Width: int(info.Width), Height: int(info.Height),
		RequestKeyframe: func(layer int) { t.keyframe(layer, r.mgr.now()) },
	}
	// Reserve the track's entry first: a track published while the
	// recording starts is offered twice, and must be tapped once.
	r.mu.Lock()
	if _, taken := rr.taps[t.sid]; r.rec != rr || taken {
		r.mu.Unlock()
		return
	}
	rr.taps[t.sid] = nil
	r.mu.Unlock()
	tap, err := rr.rec.AddTrack(ti)
	r.mu.Lock()
	if cur, ok := rr.taps[t.sid]; err != nil || r.rec != rr || !ok || cur != nil {
		if ok && cur == nil {
			delete(rr.taps, t.sid)
		}
		r.mu.Unlock()
		if tap != nil {
			tap.Close() // unpublished, or the recording ended, meanwhile
		}
		if err != nil && !errors.Is(err, record.ErrCodec) {
			r.log.Warn("track not recorded", "recording", rr.ID, "track", t.sid, "err", err)
		}
		return
	}
	rr.taps[t.sid] = tap
	r.mu.Unlock()
	t.media.AddTap(tap)
	t.recorded.Store(true)
	if t.pull != nil {
		r.pullForRecording(t)
	}
	if t.kind == webrtc.RTPCodecTypeVideo {
		// Dynacast: the publisher sends the top layer while it is
		// recorded, whoever watches.
		t.setDemand(recorderDemand, t.media.Layers()-1)
		now := r.mgr.now()
		for q := range t.media.Layers() {
			t.keyframe(q, now)
		}
	}
}

// recorderDemand is the recording's name in a track's layer demand.
const recorderDemand = "recorder"

// untap stops recording t (it was unpublished); its file stays open for a
// track the same participant publishes again from the same source.
func (r *Room) untap(t *PubTrack) {
	r.mu.Lock()
	rr := r.rec
	var tap *record.Track
	if rr != nil {
		tap = rr.taps[t.sid]
		delete(rr.taps, t.sid)
	}
	r.mu.Unlock()
	if tap != nil {
		r.releaseTap(t, tap)
	}
}

func (r *Room) releaseTap(t *PubTrack, tap *record.Track) {
	t.media.RemoveTap(tap)
	tap.Close()
	t.recorded.Store(false)
	t.dropDemand(recorderDemand)
	if t.pull != nil {
		t.pull.record.Store(0)
		t.pull.update()
	}
}

// detachRecording releases every tap of a recording that ended.
func (r *Room) detachRecording(rr *roomRecording) {
	r.mu.Lock()
	taps := rr.taps
	rr.taps = map[string]*record.Track{}
	tracks := make(map[string]*PubTrack, len(taps))
	for sid := range taps {
		if t := r.tracks[sid]; t != nil {
			tracks[sid] = t
		}
	}
	r.mu.Unlock()
	for sid, tap := range taps {
		if tap == nil {
			continue // being added: recordTrack sees the recording ended
		}
		if t := tracks[sid]; t != nil {
			r.releaseTap(t, tap)
		} else {
			tap.Close()
		}
	}
	r.log.Info("recording detached", "recording", rr.ID)
}

// endRecording ends this edge's recording because of the room (why: nil
// when the call ended); the recording's owner hears it through onEnd.
func (r *Room) endRecording(why error) {
	r.mu.Lock()
	rr := r.rec
	r.rec = nil
	r.mu.Unlock()
	if rr == nil {
		return
	}
	r.detachRecording(rr)
	r.recordingChanged()
	go rr.onEnd(why)
}

// recordingChanged tells the participants here (the room's
// active_recording flag) and the other edges of the room.
func (r *Room) recordingChanged() {
	r.tellLocals(&livekit.SignalResponse{Message: &livekit.SignalResponse_RoomUpdate{RoomUpdate: &livekit.RoomUpdate{Room: r.Proto()}}})
	r.spanSend(spanRecording, r.recordingState())
}

// recordingState is this edge's spanRecording body.
func (r *Room) recordingState() []byte {
	r.mu.Lock()
	st := spanRecordingState{}
	if r.rec != nil {
		st.ID, st.StartedAt = r.rec.ID, r.rec.StartedAt.UnixMilli()
	}
	r.mu.Unlock()
	b, _ := json.Marshal(st) // strings and a number: cannot fail
	return b
}

// onSpanRecording takes another edge's recording state, or a stop for
// this edge's recording.
func (r *Room) onSpanRecording(peer string, body []byte) error {
	var st spanRecordingState
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("%w: recording: %w", ErrSpan, err)
	}
	if st.Stop != "" {
		r.mu.Lock()
		rr := r.rec
		r.mu.Unlock()
		if rr != nil && rr.ID == st.Stop {
			r.log.Info("recording stopped from another edge", "recording", st.Stop, "peer", peer)
			r.endRecording(nil)
		}
		return nil
	}
	r.mu.Lock()
	before, had := r.remoteRecs[peer]
	var lost *roomRecording
	if st.ID == "" {
		delete(r.remoteRecs, peer)
	} else {
		info := RecordingInfo{ID: st.ID, Node: peer, StartedAt: time.UnixMilli(st.StartedAt)}
		r.remoteRecs[peer] = info
		if r.rec != nil && earlier(info, r.rec.RecordingInfo) {
			lost = r.rec // two edges started at once: the earlier keeps it
		}
	}
	changed := had != (st.ID != "") || before.ID != st.ID
	r.mu.Unlock()
	if lost != nil {
		r.log.Warn("another edge records the room: this edge's recording ends", "recording", lost.ID, "peer", peer, "theirs", st.ID)
		r.endRecording(ErrSuperseded)
		return nil
	}
	if changed {
		r.tellLocals(&livekit.SignalResponse{Message: &livekit.SignalResponse_RoomUpdate{RoomUpdate: &livekit.RoomUpdate{Room: r.Proto()}}})
	}
	return nil
}

// forgetRemoteRecording drops the recording of an edge that no longer
// hosts the room (it left, or failed).
func (r *Room) forgetRemoteRecording(node string) {
	r.mu.Lock()
	_, had := r.remoteRecs[node]
	delete(r.remoteRecs, node)
	r.mu.Unlock()
	if had {
		r.tellLocals(&livekit.SignalResponse{Message: &livekit.SignalResponse_RoomUpdate{RoomUpdate: &livekit.RoomUpdate{Room: r.Proto()}}})
	}
}

// checkRecording ends this edge's recording once the room has had nobody
// on any edge for RecordingGrace (the room's tick): the call is over.
func (r *Room) checkRecording(now time.Time) {
	r.mu.Lock()
	rr := r.rec
	if rr == nil {
		r.mu.Unlock()
		return
	}
	empty := len(r.participants) == 0 && len(r.remote) == 0
	switch {
	case !empty:
		rr.emptySince = time.Time{}
	case rr.emptySince.IsZero():
		rr.emptySince = now
	}
	over := empty && now.Sub(rr.emptySince) >= r.mgr.cfg.RecordingGrace
	r.mu.Unlock()
	if over {
		r.log.Info("the call ended: recording ends", "recording", rr.ID)
		r.endRecording(nil)
	}
}

// recordingKeepsOpen reports whether the room must stay open on this edge
// although nobody is here: it records participants on other edges.
func (r *Room) recordingKeepsOpenLocked() bool {
	return r.rec != nil && len(r.remote) > 0
}

// pullForRecording has a relayed track pull the best layer its origin
// receives, for the recording.
func (r *Room) pullForRecording(t *PubTrack) {
	t.pull.record.Store(uint32(1) << r.recordLayer(t))
	t.pull.update()
}

// recordLayer is the layer of a relayed track the recording pulls: the
// highest its origin says it receives (the top one while it has not said).
func (r *Room) recordLayer(t *PubTrack) int {
	best := t.media.Layers() - 1
	if t.kind != webrtc.RTPCodecTypeVideo || t.media.Layers() == 1 {
		return best
	}
	found := -1
	for _, l := range t.simLayers(r.mgr.now(), nil) {
		if l.Active && int(l.Quality) < t.media.Layers() {
			found = int(l.Quality)
		}
	}
	if found >= 0 {
		return found
	}
	return best
}

// nameOf is the name of a participant here or on another edge.
func (r *Room) nameOf(identity string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.participants[identity]; p != nil {
		return p.Info().Name
	}
	if rp := r.remote[identity]; rp != nil {
		return rp.info.Name
	}
	return ""
}

// sourceOf is a track source as edge/record names it.
func sourceOf(s livekit.TrackSource) string {
	if s == livekit.TrackSource_UNKNOWN {
		return ""
	}
	return strings.ToLower(s.String())
}
