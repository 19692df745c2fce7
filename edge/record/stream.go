package record

import (
	"fmt"
	"slices"

	"github.com/at-wat/ebml-go/webm"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/spacecast/spacecast/edge/codec"
)

// keyframeEvery is the least time between two keyframe requests of one
// track (the edge collapses them further).
const keyframeEvery int64 = 500e6

// pendingTimeout is how long a layer being switched to may take to yield
// its keyframe before the switch is abandoned (until its next keyframe).
const pendingTimeout int64 = 1e9

// layerState is what a stream knows of one simulcast layer.
type layerState struct {
	seen   bool
	ssrc   uint32
	last   int64 // arrival of the newest packet
	lastTS uint32
	m      mapping
	// report is a sender report that came before the layer's first
	// packet (or first packet after an SSRC change), checked against it.
	report *event
}

// waitFrame is a frame waiting for its stream's first sender report.
type waitFrame struct {
	layer   int
	ssrc    uint32
	ts      uint32
	key     bool
	data    []byte
	arrival int64
}

// stream is one recorded track: what one participant publishes from one
// source, across republications (each a new tap, the input), layer
// switches and SSRC changes. Run's goroutine owns it.
type stream struct {
	r     *Recording
	n     int
	info  TrackInfo // the input's, or the last input's
	kind  codec.Kind
	clock *participantClock
	input *Track

	layers [maxLayers]layerState
	cur    *builder // the layer being recorded
	pend   *builder // a better layer, from its keyframe on
	// pendAt is when pend's keyframe was captured (Unix nanoseconds, -1
	// unknown): the current layer's frames from then on are dropped, the
	// new layer's replace them; held says some were.
	pendAt  int64
	held    bool
	needKey bool  // video: drop frames until a keyframe
	lastKey int64 // last keyframe request

	waiting   []waitFrame
	waitBytes int

	file    *trackFile
	fileKey codec.Kind // the codec of file
	lastMs  int64

	mt      ManifestTrack // the manifest entry, but the open file's counters
	dropped uint64        // packets dropped by earlier inputs, or malformed
}

func newStream(r *Recording, n int, t *Track) *stream {
	kind := "audio"
	if t.kind.IsVideo() {
		kind = "video"
	}
	return &stream{
		r: r, n: n, kind: t.kind, info: t.info, clock: r.clock(t.info.Participant), lastMs: -1,
		mt: ManifestTrack{Participant: t.info.Participant, Source: t.info.Source, Name: t.info.Name, Kind: kind, Codec: t.kind.String(), Files: []ManifestFile{}},
	}
}

func (s *stream) video() bool { return s.kind.IsVideo() }

// attach makes t the stream's input (a first publication or a
// republication, which replaces whatever input there was).
func (s *stream) attach(t *Track) {
	if s.input != nil || len(s.mt.TrackSIDs) > 0 {
		s.mt.Reconnects++
		s.detach()
	}
	s.input = t
	s.info = t.info
	if t.kind != s.kind {
		// Another codec: the file ends, the next frame starts a new one.
		s.closeFile()
		s.kind = t.kind
		s.mt.Codec = t.kind.String()
	}
	if sid := t.info.TrackSID; sid != "" && !slices.Contains(s.mt.TrackSIDs, sid) {
		s.mt.TrackSIDs = append(s.mt.TrackSIDs, sid)
	}
	s.layers = [maxLayers]layerState{}
	s.needKey = s.video()
}

// detach ends the input: what its builders hold is written; the file
// stays open for a republication.
func (s *stream) detach() {
	if s.input == nil {
		return
	}
	s.endBuilder(s.pend, false)
	s.pend, s.held = nil, false
	s.endBuilder(s.cur, true)
	s.cur = nil
	s.flushWaiting()
	for i := range s.layers {
		s.dropReport(&s.layers[i])
	}
	s.dropped += s.input.Dropped()
	s.input = nil
}

// handle processes one event of the input.
func (s *stream) handle(ev *event) {
	if ev.kind == evReport {
		s.report(ev)
		return
	}
	if err := ev.pkt.Unmarshal(ev.buf[:ev.n]); err != nil {
		s.dropped++
		s.input.release(ev)
		return
	}
	l := int(ev.layer)
	ls := &s.layers[l]
	if !ls.seen || ev.pkt.SSRC != ls.ssrc {
		s.newSSRC(l, ev.pkt.SSRC)
	}
	ls.last, ls.lastTS = ev.arrival, ev.pkt.Timestamp
	if ls.report != nil {
		rep := ls.report
		ls.report = nil
		s.applyReport(l, rep)
	}
	now := ev.arrival
	switch {
	case s.cur != nil && s.cur.layer == l:
		s.cur.push(ev)
		s.drainCur()
	case s.pend != nil && s.pend.layer == l:
		s.pend.push(ev)
		s.drainPending(now)
	case len(ev.pkt.Payload) > 0 && s.wants(l, now) && codec.IsKeyframe(s.kind, ev.pkt.Payload):
		s.abandonPending()
		s.pend = newBuilder(s.kind, s.info.ClockRate, l, ls.ssrc, s.input, now)
		s.pendAt = -1
		if ls.m.ok {
			s.pendAt = ls.m.wall(ev.pkt.Timestamp)
		}
		s.pend.push(ev)
		s.drainPending(now)
	default:
		s.input.release(ev)
		if s.video() && s.wants(l, now) {
			s.requestKeyframe(l, now)
		}
	}
	if s.pend != nil && now-s.pend.since > pendingTimeout {
		s.abandonPending()
	}
}

// abandonPending gives up a pending switch. If the current layer's frames
// were dropped for it, the current layer needs a keyframe again.
func (s *stream) abandonPending() {
	if s.pend == nil {
		return
	}
	s.endBuilder(s.pend, false)
	s.pend = nil
	if s.held {
		s.held = false
		s.needKey = s.video()
		if s.cur != nil {
			s.requestKeyframe(s.cur.layer, s.layers[s.cur.layer].last)
		}
	}
}

// wants reports whether layer l should replace what is recorded: nothing
// is, or l is better than the current layer (and than a pending one), or
// the current layer stopped arriving. A layer switched to once recording
// runs must be timed already (its sender report arrived).
func (s *stream) wants(l int, now int64) bool {
	if s.pend != nil && l <= s.pend.layer {
		return false
	}
	if s.cur == nil {
		return true
	}
	if !s.layers[l].m.ok {
		return false
	}
	idle := now-s.layers[s.cur.layer].last > int64(s.r.cfg.LayerIdle)
	return l > s.cur.layer || (idle && l != s.cur.layer)
}

// newSSRC starts layer l over with a new stream (a publisher that
// restarted its encoder or reconnected under the same track).
func (s *stream) newSSRC(l int, ssrc uint32) {
	ls := &s.layers[l]
	if s.pend != nil && s.pend.layer == l {
		s.abandonPending()
	}
	if s.cur != nil && s.cur.layer == l {
		s.endBuilder(s.cur, true) // timed by the old SSRC's reports
		s.cur = nil
		s.needKey = s.video()
	}
	// Frames of the old SSRC that still wait can no longer be timed by a
	// report of theirs.
	for _, w := range s.waiting {
		if w.layer == l {
			s.flushWaiting()
			break
		}
	}
	if ls.seen {
		s.mt.SSRCChanges++
		ls.m = mapping{}
	}
	ls.seen, ls.ssrc = true, ssrc
}

// report takes a sender report event.
func (s *stream) report(ev *event) {
	l := int(ev.layer)
	ls := &s.layers[l]
	if !ls.seen {
		s.dropReport(ls)
		ls.report = ev // checked against the layer's first packet
		return
	}
	s.applyReport(l, ev)
}

// applyReport times layer l's stream by a sender report, unless the
// report is too far from the stream's packets to be its own.
func (s *stream) applyReport(l int, ev *event) {
	ls := &s.layers[l]
	defer s.input.release(ev)
	gap := int64(int32(ev.rtpTS - ls.lastTS))
	if gap < 0 {
		gap = -gap
	}
	if gap > maxReportGap*int64(s.info.ClockRate) {
		return // a report of an earlier SSRC of the layer
	}
	ls.m.report(s.clock, ev.ntp, ev.rtpTS, ev.arrival, s.info.ClockRate)
	if s.mt.Clock == "" {
		s.mt.Clock = "sender-report"
	}
	s.writeWaiting()
}

func (s *stream) dropReport(ls *layerState) {
	if ls.report != nil {
		s.input.release(ls.report)
		ls.report = nil
	}
}

// drainCur writes the current layer's complete frames.
func (s *stream) drainCur() {
	for {
		f, lost := s.cur.pop()
		if f == nil {
			return
		}
		s.frame(s.cur, f, lost, -1)
	}
}

// drainPending switches to the pending layer at its first frame if that
// is a keyframe (else gives it up until its next keyframe).
func (s *stream) drainPending(now int64) {
	f, lost := s.pend.pop()
	if f == nil {
		return
	}
	if !keyframe(s.kind, f.Data) {
		s.abandonPending()
		return
	}
	p := s.pend
	s.pend, s.held = nil, false
	// What the old layer still holds is written up to the switch.
	until := int64(-1)
	if m := &s.layers[p.layer].m; m.ok {
		until = m.wall(f.PacketTimestamp)
	}
	if s.cur != nil {
		s.endBuilder(s.cur, true, until)
		s.mt.LayerSwitches++
	}
	s.cur = p
	s.frame(p, f, lost, -1)
	s.drainCur()
	_ = now
}

// endBuilder gives up b; with write, the frames it holds are written
// (those before until, Unix nanoseconds, if until is given).
func (s *stream) endBuilder(b *builder, write bool, until ...int64) {
	if b == nil {
		return
	}
	b.finish()
	defer b.close()
	limit := int64(-1)
	if len(until) > 0 {
		limit = until[0]
	}
	for {
		f, lost := b.pop()
		if f == nil {
			break
		}
		if write {
			s.frame(b, f, lost, limit)
		}
	}
}

// frame takes a complete frame of b's stream: video after a loss waits for
// a keyframe; a frame of a stream not yet timed waits for its report.
// With limit ≥ 0 a frame timed at or after limit is dropped.
func (s *stream) frame(b *builder, f *media.Sample, lost int, limit int64) {
	key := keyframe(s.kind, f.Data)
	if s.video() {
		if lost > 0 && !key {
			s.needKey = true
		}
		if s.needKey && !key {
			s.mt.SkippedFrames++
			s.requestKeyframe(b.layer, s.layers[b.layer].last)
			return
		}
		if key {
			s.needKey = false
		}
	}
	w := waitFrame{layer: b.layer, ssrc: b.ssrc, ts: f.PacketTimestamp, key: key, data: f.Data, arrival: b.arrival(f.PacketTimestamp, s.layers[b.layer].last)}
	m := &s.layers[b.layer].m
	if len(s.waiting) > 0 || !m.ok {
		s.waiting = append(s.waiting, w)
		s.waitBytes += len(w.data)
		if s.waitBytes > maxWaitBytes {
			s.flushWaiting()
		}
		return
	}
	if limit >= 0 && m.wall(w.ts) >= limit {
		return
	}
	if b == s.cur && s.pend != nil && s.pendAt >= 0 && m.wall(w.ts) >= s.pendAt {
		s.held = true // the pending layer's keyframe replaces it
		return
	}
	s.write(&w, m)
}

// writeWaiting writes the waiting frames whose streams are timed now.
func (s *stream) writeWaiting() {
	i := 0
	for ; i < len(s.waiting); i++ {
		w := &s.waiting[i]
		ls := &s.layers[w.layer]
		if !ls.m.ok || ls.ssrc != w.ssrc {
			break
		}
		s.write(w, &ls.m)
	}
	s.trimWaiting(i)
}

// flushWaiting writes every waiting frame, timing the streams that sent
// no report by arrival (and dropping frames of an SSRC that is gone).
func (s *stream) flushWaiting() {
	for i := range s.waiting {
		w := &s.waiting[i]
		ls := &s.layers[w.layer]
		if ls.ssrc != w.ssrc {
			s.mt.SkippedFrames++
			continue
		}
		if !ls.m.ok {
			ls.m.byArrival(w.ts, w.arrival, s.info.ClockRate)
			s.mt.Clock = "arrival"
		}
		s.write(w, &ls.m)
	}
	s.trimWaiting(len(s.waiting))
}

func (s *stream) trimWaiting(n int) {
	for i := range n {
		s.waitBytes -= len(s.waiting[i].data)
	}
	s.waiting = slices.Delete(s.waiting, 0, n)
}

// write puts a timed frame into the file (opened at the first frame).
func (s *stream) write(w *waitFrame, m *mapping) {
	if s.r.failure != nil {
		return
	}
	ms := (m.wall(w.ts) - s.r.start.UnixNano()) / 1e6
	ms = max(ms, s.lastMs+1, 0) // one timeline, strictly forwards
	if s.file == nil {
		if !w.key {
			s.mt.SkippedFrames++
			return
		}
		if err := s.openFile(w); err != nil {
			s.r.fail(err)
			return
		}
	}
	data := w.data
	if s.kind == codec.H264 {
		data = avcc(data)
	}
	s.lastMs = ms
	if err := s.file.write(ms, w.key, data); err != nil {
		s.r.fail(err)
	}
}

// openFile starts the stream's next file with keyframe w.
func (s *stream) openFile(w *waitFrame) error {
	entry := webm.TrackEntry{Name: s.info.Name, TrackNumber: 1, TrackUID: uint64(s.n), TrackType: 2}
	ext, doc := "webm", "webm"
	width, height := 0, 0
	switch s.kind {
	case codec.VP8, codec.VP9, codec.H264:
		entry.TrackType = 1
		width, height = dimensions(s.kind, w.data)
		if width == 0 {
			width, height = s.info.Width, s.info.Height
		}
		entry.Video = &webm.Video{PixelWidth: uint64(width), PixelHeight: uint64(height)}
		entry.CodecID = codecIDVP8
		if s.kind == codec.VP9 {
			entry.CodecID = codecIDVP9
		}
		if s.kind == codec.H264 {
			cfg, err := avcConfig(w.data)
			if err != nil {
				return err
			}
			entry.CodecID, entry.CodecPrivate = codecIDH264, cfg
			ext, doc = "mkv", "matroska"
		}
	default:
		entry.CodecID, entry.CodecPrivate = codecIDOpus, opusHead()
		entry.Audio = &webm.Audio{SamplingFrequency: 48000, Channels: 2}
		entry.SeekPreRoll = 80e6 // ns, RFC 7845 §4.6
	}
	name := fmt.Sprintf("%s.%s", fileStem(s.n, &s.info, s.mt.Kind), ext)
	if k := len(s.mt.Files); k > 0 {
		name = fmt.Sprintf("%s-%d.%s", fileStem(s.n, &s.info, s.mt.Kind), k+1, ext)
	}
	f, err := newTrackFile(s.r.cfg.FS, name, doc, entry, s.r.start)
	if err != nil {
		return err
	}
	s.file, s.fileKey = f, s.kind
	s.mt.Files = append(s.mt.Files, ManifestFile{Name: name, Width: width, Height: height})
	s.r.cfg.Log.Debug("recording track", "recording", s.r.cfg.ID, "participant", s.info.Participant, "file", name)
	if err := s.r.save(); err != nil {
		return err
	}
	return nil
}

// closeFile ends the open file, if any.
func (s *stream) closeFile() {
	if s.file == nil {
		return
	}
	s.syncFile()
	if err := s.file.close(); err != nil {
		s.r.fail(err)
	}
	s.syncFile()
	s.file = nil
}

// syncFile copies the open file's counters into its manifest entry.
func (s *stream) syncFile() {
	if s.file == nil || len(s.mt.Files) == 0 {
		return
	}
	f := &s.mt.Files[len(s.mt.Files)-1]
	f.Frames, f.Bytes = s.file.n, s.file.size()
	if s.file.first >= 0 {
		f.StartMs, f.EndMs = s.file.first, s.file.last
	}
}

// requestKeyframe asks the publisher for a keyframe on layer l, at most
// once per keyframeEvery.
func (s *stream) requestKeyframe(l int, now int64) {
	if s.info.RequestKeyframe == nil || s.input == nil || now-s.lastKey < keyframeEvery {
		return
	}
	s.lastKey = now
	s.info.RequestKeyframe(l)
}

// housekeep runs on Run's tick: waits for reports time out, a pending
// switch times out.
func (s *stream) housekeep(now int64) {
	if s.input == nil {
		return
	}
	if s.pend != nil && now-s.pend.since > pendingTimeout {
		s.abandonPending()
	}
	if len(s.waiting) > 0 && now-s.waiting[0].arrival > int64(s.r.cfg.ReportWait) {
		s.flushWaiting()
	}
}

// end finishes the stream when the recording ends: with flush, what its
// builders and waits hold is written first.
func (s *stream) end(flush bool) {
	if flush && s.r.failure == nil {
		s.detach()
	} else {
		s.endBuilder(s.pend, false)
		s.endBuilder(s.cur, false)
		s.pend, s.cur = nil, nil
		for i := range s.layers {
			if s.input != nil {
				s.dropReport(&s.layers[i])
			}
		}
		s.waiting, s.waitBytes = nil, 0
	}
	s.closeFile()
}

// manifest is the stream's manifest entry now.
func (s *stream) manifest() ManifestTrack {
	s.syncFile()
	s.mt.DroppedPackets = s.dropped
	if s.input != nil {
		s.mt.DroppedPackets += s.input.Dropped()
	}
	mt := s.mt
	mt.Files = slices.Clone(mt.Files)
	mt.TrackSIDs = slices.Clone(mt.TrackSIDs)
	return mt
}
