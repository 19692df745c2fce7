package room

import (
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

// Room timing.
const (
	tick            = 250 * time.Millisecond
	speakerEvery    = 1  // ticks
	qualityEvery    = 12 // ticks (3 s)
	speakingBelow   = 55 // dBov: louder than this counts as speaking
	speakerHoldTick = 4  // ticks a speaker stays active after its last loud packet
)

// Room is one conference on this edge.
type Room struct {
	mgr     *Manager
	name    string
	sid     string
	created time.Time
	log     *slog.Logger

	mu           sync.Mutex
	participants map[string]*Participant // by identity
	tracks       map[string]*PubTrack    // by sid
	metadata     string
	closed       bool
	emptySince   time.Time
	speaking     map[string]int       // participant sid → ticks left
	removed      map[string]time.Time // identity → when a moderator removed it
	// maxParticipants is the room's own limit, from the newest join token
	// that carried one (0: the edge's default).
	maxParticipants int
	// remote are the room's participants on other edges (remote.go), by
	// identity; holds the relay links kept to the other edges hosting the
	// room (span.go), by node id.
	remote map[string]*remotePart
	holds  map[string]func()
	// rec is this edge's recording of the room (record.go), remoteRecs
	// the recordings other edges say they make, by node id.
	rec        *roomRecording
	remoteRecs map[string]RecordingInfo

	wg   sync.WaitGroup // participant loops
	stop chan struct{}
	once sync.Once
}

func newRoom(m *Manager, name string) *Room {
	sid := newID("RM_")
	return &Room{
		mgr: m, name: name, sid: sid, created: time.Now(),
		log:          m.log.With("room", name),
		participants: map[string]*Participant{},
		tracks:       map[string]*PubTrack{},
		emptySince:   time.Now(),
		speaking:     map[string]int{},
		removed:      map[string]time.Time{},
		remote:       map[string]*remotePart{},
		holds:        map[string]func(){},
		remoteRecs:   map[string]RecordingInfo{},
		stop:         make(chan struct{}),
	}
}

// Name is the room's name.
func (r *Room) Name() string { return r.name }

func (r *Room) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Close disconnects everyone with reason and ends the room.
func (r *Room) Close(reason livekit.DisconnectReason) {
	r.mu.Lock()
	r.closed = true
	ps := r.participantsLocked()
	r.mu.Unlock()
	r.endRecording(ErrRoomClosed)
	for _, p := range ps {
		p.Close(reason)
	}
	r.dropAllRemote()
	r.once.Do(func() { close(r.stop) })
}

func (r *Room) participantsLocked() []*Participant {
	out := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		out = append(out, p)
	}
	return out
}

// Participants lists the participants (hidden ones too) by identity.
func (r *Room) Participants() []*Participant {
	r.mu.Lock()
	out := r.participantsLocked()
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].identity < out[j].identity })
	return out
}

// Participant returns the participant with identity, or nil.
func (r *Room) Participant(identity string) *Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.participants[identity]
}

// Proto is the room as LiveKit clients see it.
func (r *Room) Proto() *livekit.Room {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, pubs := 0, 0
	for _, p := range r.participants {
		if !p.hidden {
			n++
		}
		if len(p.Info().Tracks) > 0 {
			pubs++
		}
	}
	for _, rp := range r.remote {
		if !rp.info.GetPermission().GetHidden() {
			n++
		}
		if len(rp.info.Tracks) > 0 {
			pubs++
		}
	}
	return &livekit.Room{
		Sid: r.sid, Name: r.name, Metadata: r.metadata,
		EmptyTimeout:     uint32(r.mgr.cfg.EmptyTimeout / time.Second),
		DepartureTimeout: uint32(r.mgr.cfg.DepartureTimeout / time.Second),
		MaxParticipants:  uint32(r.limitLocked()),
		CreationTime:     r.created.Unix(), CreationTimeMs: r.created.UnixMilli(),
		NumParticipants: uint32(n), NumPublishers: uint32(pubs),
		ActiveRecording: r.rec != nil || len(r.remoteRecs) > 0,
	}
}

// limitLocked is the room's participant limit (0: none).
func (r *Room) limitLocked() int {
	if r.maxParticipants > 0 {
		return r.maxParticipants
	}
	return r.mgr.cfg.MaxParticipants
}

// SetMetadata changes the room's metadata and tells everyone.
func (r *Room) SetMetadata(md string) {
	r.mu.Lock()
	r.metadata = md
	ps := r.participantsLocked()
	r.mu.Unlock()
	msg := &livekit.SignalResponse{Message: &livekit.SignalResponse_RoomUpdate{RoomUpdate: &livekit.RoomUpdate{Room: r.Proto()}}}
	for _, p := range ps {
		p.sendAsync(msg)
	}
}

func (r *Room) join(jp JoinParams) (*Participant, error) {
	p, err := newParticipant(r, jp)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		p.discard()
		return nil, ErrClosed
	}
	if at, ok := r.removed[jp.Identity]; ok && !jp.IssuedAt.After(at) {
		r.mu.Unlock()
		p.discard()
		return nil, ErrRemoved
	}
	old := r.participants[jp.Identity]
	// The whole room counts, on every edge (a participant that moves
	// here from another edge replaces itself there).
	count := len(r.participants) + len(r.remote)
	if old != nil {
		count--
	}
	if r.remote[jp.Identity] != nil {
		count--
	}
	max := r.mgr.cfg.MaxParticipants
	if jp.MaxParticipants > 0 {
		max = jp.MaxParticipants
		r.maxParticipants = jp.MaxParticipants
	} else if r.maxParticipants > 0 {
		max = r.maxParticipants
	}
	if max > 0 && count >= max {
		r.mu.Unlock()
		p.discard()
		return nil, fmt.Errorf("%w: %d participants", ErrFull, count)
	}
	if old != nil {
		delete(r.participants, jp.Identity)
		old.replaced.Store(true)
	}
	var moved remoteChange
	if rp := r.remote[jp.Identity]; rp != nil {
		// It was on another edge and is here now (that edge hears it and
		// lets it go): its relayed tracks stop, nobody is told it left.
		moved = r.dropRemoteLocked(rp)
	}
	r.participants[jp.Identity] = p
	r.wg.Add(1)
	r.mu.Unlock()
	for _, t := range moved.gone {
		r.withdraw(t)
	}
	r.mgr.metrics.participants.Inc()
	connection := "dual"
	if p.single {
		connection = "single"
	}
	r.mgr.metrics.joined.WithLabelValues(connection).Inc()
	r.mgr.participants.Add(1)
	go func() {
		defer r.wg.Done()
		p.loop()
	}()
	if old != nil {
		old.Close(livekit.DisconnectReason_DUPLICATE_IDENTITY)
	}
	return p, nil
}

// Remove disconnects p with PARTICIPANT_REMOVED and keeps it out: only a
// token issued after now lets the same identity back in.
func (r *Room) Remove(p *Participant) { r.RemoveAt(p, time.Now()) }

// RemoveAt is Remove with the removal's time: only a token issued after at
// lets the same identity back in.
func (r *Room) RemoveAt(p *Participant, at time.Time) {
	r.mu.Lock()
	if cur, ok := r.removed[p.identity]; !ok || at.After(cur) {
		r.removed[p.identity] = at
	}
	r.mu.Unlock()
	p.Close(livekit.DisconnectReason_PARTICIPANT_REMOVED)
}

// Removed reports whether a moderator removed identity from this room
// after a token issued at issued (zero: unknown, treated as older).
func (r *Room) Removed(identity string, issued time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.removed[identity]
	return ok && !issued.After(at)
}

// RemoveIssued removes the participant with this identity (as Remove) if
// its token was issued at or before before (a zero before: whatever its
// token); it reports whether it did. Cluster-wide revocations use it.
func (r *Room) RemoveIssued(identity string, before time.Time) bool {
	p := r.Participant(identity)
	if p == nil || (!before.IsZero() && p.issuedAt.After(before)) {
		return false
	}
	r.Remove(p)
	return true
}

// remove takes p out of the room (called by p's loop on exit).
func (r *Room) remove(p *Participant, broadcast bool) {
	r.mu.Lock()
	if r.participants[p.identity] == p {
		delete(r.participants, p.identity)
	}
	var gone []*PubTrack
	for sid, t := range r.tracks {
		if t.owner == p {
			delete(r.tracks, sid)
			gone = append(gone, t)
		}
	}
	delete(r.speaking, p.sid)
	if len(r.participants) == 0 {
		r.emptySince = time.Now()
	}
	others := r.participantsLocked()
	r.mu.Unlock()
	r.mgr.metrics.participants.Dec()
	r.mgr.participants.Add(-1)
	for _, t := range gone {
		for _, o := range others {
			o.post(func() { o.unsubscribe(t.sid) })
		}
	}
	if broadcast && !p.hidden {
		info := proto.Clone(p.Info()).(*livekit.ParticipantInfo)
		info.State = livekit.ParticipantInfo_DISCONNECTED
		info.Tracks = nil
		r.broadcast(p, info)
	}
}

// broadcast sends info to every participant except p.
func (r *Room) broadcast(from *Participant, info *livekit.ParticipantInfo) {
	if from.hidden {
		return
	}
	r.mu.Lock()
	ps := r.participantsLocked()
	r.mu.Unlock()
	msg := &livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: []*livekit.ParticipantInfo{info}}}}
	for _, o := range ps {
		if o != from {
			o.sendAsync(msg)
		}
	}
	r.spanInfo(info)
}

// others lists the infos of the visible participants other than p.
func (r *Room) others(p *Participant) []*livekit.ParticipantInfo {
	r.mu.Lock()
	ps := r.participantsLocked()
	r.mu.Unlock()
	var out []*livekit.ParticipantInfo
	for _, o := range ps {
		if o != p && !o.hidden {
			out = append(out, o.Info())
		}
	}
	for _, info := range r.RemoteParticipants() {
		if !info.GetPermission().GetHidden() {
			out = append(out, info)
		}
	}
	return out
}

// addTrack makes t one of the room's tracks (Track finds it) without
// offering it to anyone yet (publish does).
func (r *Room) addTrack(t *PubTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.tracks[t.sid] = t
	}
}

// publish makes t subscribable and subscribes the auto-subscribers.
func (r *Room) publish(t *PubTrack) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.tracks[t.sid] = t
	ps := r.participantsLocked()
	rec := r.rec
	r.mu.Unlock()
	if rec != nil {
		r.recordTrack(rec, t)
	}
	for _, o := range ps {
		if o != t.owner {
			o.post(func() {
				if o.autoSubscribe || o.wanted[t.sid] {
					delete(o.wanted, t.sid)
					o.subscribe(t)
				}
			})
		}
	}
}

// unpublish withdraws t.
func (r *Room) unpublish(t *PubTrack) {
	t.refuseFeeds()
	r.untap(t)
	r.mu.Lock()
	if r.tracks[t.sid] == t {
		delete(r.tracks, t.sid)
	}
	ps := r.participantsLocked()
	r.mu.Unlock()
	for _, o := range ps {
		if o != t.owner {
			o.post(func() { o.unsubscribe(t.sid) })
		}
	}
}

// Track returns a published track.
func (r *Room) Track(sid string) *PubTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tracks[sid]
}

func (r *Room) tracksOf(p *Participant) []*PubTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*PubTrack
	for _, t := range r.tracks {
		if t.owner != p {
			out = append(out, t)
		}
	}
	return out
}

// run ticks speaker and connection-quality updates and closes the room when
// it has been empty for EmptyTimeout or when Close is called.
func (r *Room) run() {
	defer r.mgr.forget(r)
	t := time.NewTicker(tick)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-r.stop:
			r.wg.Wait()
			return
		case <-t.C:
		}
		r.mu.Lock()
		empty := len(r.participants) == 0 && time.Since(r.emptySince) >= r.mgr.cfg.EmptyTimeout && !r.recordingKeepsOpenLocked()
		r.mu.Unlock()
		if empty {
			r.log.Info("closing empty room")
			r.Close(livekit.DisconnectReason_ROOM_CLOSED)
			continue
		}
		r.flushInfos()
		r.checkRecording(time.Now())
		r.updatePulls()
		if n%4 == 0 {
			r.spanHosts()
			r.sendLayerStates()
		}
		if n%speakerEvery == 0 {
			r.speakers()
		}
		if n%qualityEvery == 0 {
			r.quality()
		}
	}
}

// flushInfos has every participant with a coalesced info broadcast due
// send it (guard.go).
func (r *Room) flushInfos() {
	r.mu.Lock()
	ps := r.participantsLocked()
	r.mu.Unlock()
	for _, p := range ps {
		if p.guard.infoPending.Load() {
			p.post(p.flushInfo)
		}
	}
}

// bySID is the participant with sid, or nil. Called with r.mu held.
func (r *Room) bySID(sid string) *Participant {
	for _, p := range r.participants {
		if p.sid == sid {
			return p
		}
	}
	return nil
}

func (r *Room) speakers() {
	changed, ps := r.speakerChanges()
	if len(changed) == 0 {
		return
	}
	sc := &livekit.SpeakersChanged{Speakers: changed}
	msg := &livekit.SignalResponse{Message: &livekit.SignalResponse_SpeakersChanged{SpeakersChanged: sc}}
	for _, p := range ps {
		p.sendAsync(msg)
	}
	if b, err := proto.Marshal(sc); err == nil {
		r.spanSend(spanSpeakers, b)
	}
}

// speakerChanges updates who speaks from the audio levels (RFC 6464) seen
// since the last tick and returns the changes and who to tell.
func (r *Room) speakerChanges() ([]*livekit.SpeakerInfo, []*Participant) {
	r.mu.Lock()
	var changed []*livekit.SpeakerInfo
	for _, t := range r.tracks {
		if t.kind != webrtc.RTPCodecTypeAudio || t.owner == nil || t.owner.hidden {
			continue // relayed tracks' speakers come from their edge
		}
		lvl := t.media.Loudest()
		sid := t.owner.sid
		if lvl < speakingBelow && !t.Info().Muted {
			if _, was := r.speaking[sid]; !was {
				changed = append(changed, &livekit.SpeakerInfo{Sid: sid, Level: float32(math.Pow(10, -float64(lvl)/20)), Active: true})
				t.owner.speaking.Store(true)
			}
			r.speaking[sid] = speakerHoldTick
		}
	}
	for sid, left := range r.speaking {
		if left--; left <= 0 {
			delete(r.speaking, sid)
			changed = append(changed, &livekit.SpeakerInfo{Sid: sid, Active: false})
			if p := r.bySID(sid); p != nil {
				p.speaking.Store(false)
			}
		} else {
			r.speaking[sid] = left
		}
	}
	ps := r.participantsLocked()
	r.mu.Unlock()
	return changed, ps
}

func (r *Room) quality() {
	infos, ps := r.qualityInfos()
	if len(infos) == 0 {
		return
	}
	msg := &livekit.SignalResponse{Message: &livekit.SignalResponse_ConnectionQuality{ConnectionQuality: &livekit.ConnectionQualityUpdate{Updates: infos}}}
	for _, p := range ps {
		p.sendAsync(msg)
	}
}
