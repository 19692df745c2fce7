package record

import (
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/edge/record/internal/synth"
)

// TestRecordTimeline: two publishers with their own NTP clocks (bob's 37 s
// ahead) start 2 s apart; alice's video arrives 60 ms later than her audio
// though her sender reports say they were captured together, and carries
// padding-only probes. Each track's file lasts what was fed; alice's audio
// and video start together (by the reports, not the arrival); bob starts 2
// s after alice (by the edge's clock, not his); every file decodes.
func TestRecordTimeline(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	video := vp8(t, 320, 240, 30, 8)[:180]
	audio := opus(t, 8, 440)[:300]
	h := newHarness(t, nil)

	aliceA := h.add(TrackInfo{Participant: "alice", ParticipantName: "Alice", ParticipantSID: "PA_1", TrackSID: "TR_aa", Source: SourceMicrophone, MimeType: "audio/opus"})
	aliceV := h.add(TrackInfo{Participant: "alice", ParticipantSID: "PA_1", TrackSID: "TR_av", Source: SourceCamera, MimeType: "video/VP8"})
	bobA := h.add(TrackInfo{Participant: "bob", TrackSID: "TR_ba", Source: SourceMicrophone, MimeType: "audio/opus"})
	bobV := h.add(TrackInfo{Participant: "bob", TrackSID: "TR_bv", Source: SourceCamera, MimeType: "video/VP8"})

	var s synth.Schedule
	aStart, bStart := t0.Add(500*time.Millisecond), t0.Add(2500*time.Millisecond)
	s.Frames(aliceA, 0, opusStream(0x1111, 1_000_000, aStart, 0), audio, aStart, 20*time.Millisecond, 2*time.Second)
	av := vp8Stream(0x2222, 3_000_000_000, aStart, 0)
	for i := 0; i < len(video); i += 10 {
		end := min(i+10, len(video))
		s.Frames(aliceV, 0, av, video[i:end], aStart, 80*time.Millisecond, time.Second)
		at := aStart.Add(video[end-1].At)
		s.Add(synth.Event{At: at.Add(81 * time.Millisecond), Tap: aliceV, Packet: av.Padding(at)})
	}
	const skew = 37 * time.Second
	s.Frames(bobA, 0, opusStream(0x3333, 42, bStart, skew), audio, bStart, 30*time.Millisecond, 2*time.Second)
	s.Frames(bobV, 0, vp8Stream(0x4444, 4_000_000_000, bStart, skew), video, bStart, 30*time.Millisecond, time.Second)
	h.feed(&s)
	m, err := h.stop()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	if m.State != StateFinished || len(m.Tracks) != 4 || len(m.Participants) != 2 {
		t.Fatalf("manifest: state %q, %d tracks, %d participants; want finished, 4, 2", m.State, len(m.Tracks), len(m.Participants))
	}
	if p := m.Participants[0]; p.Identity != "alice" || p.Name != "Alice" || len(p.SIDs) != 1 {
		t.Errorf("first participant %+v", p)
	}
	paa, aa := h.fileOf(m, "alice", "audio")
	pav, avt := h.fileOf(m, "alice", "video")
	pba, ba := h.fileOf(m, "bob", "audio")
	pbv, bv := h.fileOf(m, "bob", "video")
	for _, tr := range []ManifestTrack{aa, avt, ba, bv} {
		if tr.Clock != "sender-report" || tr.SkippedFrames != 0 || tr.DroppedPackets != 0 {
			t.Errorf("%s's %s: clock %q, %d frames skipped, %d packets dropped; want sender-report, 0, 0", tr.Participant, tr.Kind, tr.Clock, tr.SkippedFrames, tr.DroppedPackets)
		}
	}
	a0, v0 := aa.Files[0].StartMs, avt.Files[0].StartMs
	if d := a0 - v0; d < -2 || d > 2 {
		t.Errorf("alice's audio starts at %d ms and her video at %d ms: the reports say together", a0, v0)
	}
	if a0 < 500 || a0 > 600 {
		t.Errorf("alice starts at %d ms, want 500 ms plus her network delay", a0)
	}
	b0 := ba.Files[0].StartMs
	if d := b0 - a0; d < 1950 || d > 2050 {
		t.Errorf("bob starts %d ms after alice, want 2000 ± 50 (his clock is %v ahead)", d, skew)
	}
	if d := bv.Files[0].StartMs - b0; d < -2 || d > 2 {
		t.Errorf("bob's video starts %d ms from his audio", d)
	}
	fed := video[len(video)-1].At.Seconds()
	checkFile(t, paa, "opus", fed)
	checkFile(t, pba, "opus", fed)
	for _, p := range []string{pav, pbv} {
		pr := checkFile(t, p, "vp8", fed)
		if s := pr.Streams[0]; s.Width != 320 || s.Height != 240 {
			t.Errorf("%s is %dx%d, want 320x240", p, s.Width, s.Height)
		}
	}
	if f := avt.Files[0]; f.Frames != uint64(len(video)) || f.Width != 320 {
		t.Errorf("alice's video file: %d frames of %d px width, want %d of 320", f.Frames, f.Width, len(video))
	}
	if m.DurationMs < b0+int64(fed*1000)-50 {
		t.Errorf("recording duration %d ms, want at least %d", m.DurationMs, b0+int64(fed*1000))
	}
}

// TestRecordSimulcast: a two-layer track whose high layer arrives only
// from 2.5 s to 5.5 s. The recorder asks for a keyframe on it, switches up
// at its first keyframe (3 s), and back down at the low layer's first
// keyframe after the high one stopped; the file decodes across both
// switches at the sizes of the layers.
func TestRecordSimulcast(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	low := vp8(t, 160, 120, 30, 8)
	high := vp8(t, 320, 240, 30, 8)
	h := newHarness(t, nil)
	tr := h.add(TrackInfo{Participant: "carol", Source: SourceCamera, MimeType: "video/VP8", Layers: 2})

	var s synth.Schedule
	s.Frames(tr, 0, vp8Stream(0x10, 1000, t0, 0), low, t0, 20*time.Millisecond, time.Second)
	s.Frames(tr, 1, vp8Stream(0x11, 900_000, t0, 0), high[75:165], t0, 20*time.Millisecond, time.Second)
	h.feed(&s)
	m, err := h.stop()
	if err != nil {
		t.Fatal(err)
	}
	path, mt := h.fileOf(m, "carol", "video")
	if mt.LayerSwitches != 2 {
		t.Errorf("%d layer switches, want 2 (up at 3 s, down at 7 s)", mt.LayerSwitches)
	}
	asked := false
	for _, l := range h.keyframeRequests() {
		asked = asked || l == 1
	}
	if !asked {
		t.Errorf("no keyframe asked of the high layer when it appeared mid-GOP (asked: %v)", h.keyframeRequests())
	}
	checkFile(t, path, "vp8", 8)
	frames, err := synth.Frames(testCtx(t), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		want := 0
		switch {
		case f.Time < 2.4, f.Time > 7.05:
			want = 160
		case f.Time > 3.05 && f.Time < 5.4:
			want = 320
		}
		if want != 0 && f.Width != want {
			t.Errorf("frame at %.3f s is %d px wide, want %d", f.Time, f.Width, want)
		}
		if f.Time > 5.55 && f.Time < 6.95 {
			t.Errorf("a frame at %.3f s: between the layers nothing decodable arrived", f.Time)
		}
	}
}

// TestRecordReconnect: alice publishes for 4 s, leaves, and republishes
// (new track SIDs, SSRCs, RTP bases) 1.5 s later for 4 s. Each track stays
// one file with a 1.5 s gap at the right place.
func TestRecordReconnect(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	video := vp8(t, 320, 240, 30, 8)[:120]
	audio := opus(t, 8, 440)[:200]
	h := newHarness(t, nil)
	a1 := h.add(TrackInfo{Participant: "alice", ParticipantSID: "PA_1", TrackSID: "TR_a1", Source: SourceMicrophone, MimeType: "audio/opus"})
	v1 := h.add(TrackInfo{Participant: "alice", ParticipantSID: "PA_1", TrackSID: "TR_v1", Source: SourceCamera, MimeType: "video/VP8"})

	var s synth.Schedule
	s.Frames(a1, 0, opusStream(1, 5000, t0, 3*time.Second), audio, t0, 20*time.Millisecond, time.Second)
	s.Frames(v1, 0, vp8Stream(2, 7000, t0, 3*time.Second), video, t0, 20*time.Millisecond, time.Second)
	end1 := t0.Add(4 * time.Second)
	s.Add(synth.Event{At: end1, Do: func() { a1.Close(); v1.Close() }})
	var mid Manifest
	var midErr error
	s.Add(synth.Event{At: end1.Add(500 * time.Millisecond), Do: func() { mid, midErr = ReadManifest(h.dir) }})
	back := end1.Add(1500 * time.Millisecond)
	a2, v2 := &synth.Proxy{}, &synth.Proxy{}
	s.Add(synth.Event{At: back, Do: func() {
		a2.T = h.add(TrackInfo{Participant: "alice", ParticipantSID: "PA_2", TrackSID: "TR_a2", Source: SourceMicrophone, MimeType: "audio/opus"})
		v2.T = h.add(TrackInfo{Participant: "alice", ParticipantSID: "PA_2", TrackSID: "TR_v2", Source: SourceCamera, MimeType: "video/VP8"})
	}})
	s.Frames(a2, 0, opusStream(3, 123_456_789, back, 3*time.Second), audio, back, 20*time.Millisecond, time.Second)
	s.Frames(v2, 0, vp8Stream(4, 3_333_333, back, 3*time.Second), video, back, 20*time.Millisecond, time.Second)
	h.feed(&s)
	m, err := h.stop()
	if err != nil {
		t.Fatal(err)
	}
	// While it ran, the manifest on disk already listed the files (what an
	// edge that dies leaves behind).
	if midErr != nil || mid.State != StateRecording || len(mid.Tracks) != 2 || len(mid.Tracks[0].Files) != 1 {
		t.Errorf("manifest during the recording: %+v, %v; want state recording with the two files", mid, midErr)
	}
	if len(m.Tracks) != 2 || len(m.Participants) != 1 || len(m.Participants[0].SIDs) != 2 {
		t.Fatalf("manifest: %d tracks, participants %+v; want 2 tracks of one participant with two SIDs", len(m.Tracks), m.Participants)
	}
	span := back.Add(video[len(video)-1].At).Sub(t0).Seconds()
	for _, kind := range []string{"audio", "video"} {
		path, mt := h.fileOf(m, "alice", kind)
		if mt.Reconnects != 1 || len(mt.TrackSIDs) != 2 {
			t.Errorf("%s: %d reconnects, track SIDs %v; want 1 and two SIDs", kind, mt.Reconnects, mt.TrackSIDs)
		}
		codec := "vp8"
		if kind == "audio" {
			codec = "opus"
		}
		checkFile(t, path, codec, span)
		times, err := synth.PacketTimes(testCtx(t), path)
		if err != nil {
			t.Fatal(err)
		}
		var gaps []float64
		for i := 1; i < len(times); i++ {
			if d := times[i] - times[i-1]; d > 0.2 {
				gaps = append(gaps, times[i-1], d)
			}
		}
		if len(gaps) != 2 || math.Abs(gaps[0]-video[len(video)-1].At.Seconds()) > 0.05 || math.Abs(gaps[1]-(1.5+0.033)) > 0.05 {
			t.Errorf("%s: gaps (at, length) %v, want one of about 1.5 s after the first 4 s", kind, gaps)
		}
	}
}

// TestRecordSSRCChange: the publisher restarts its encoder under the same
// track (new SSRC, sequence numbers and RTP base): the file goes on, in
// time.
func TestRecordSSRCChange(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	video := vp8(t, 320, 240, 30, 8)[:120]
	h := newHarness(t, nil)
	tr := h.add(TrackInfo{Participant: "dave", Source: SourceCamera, MimeType: "video/VP8"})
	var s synth.Schedule
	s.Frames(tr, 0, vp8Stream(0xa, 1, t0, time.Hour), video, t0, 20*time.Millisecond, time.Second)
	second := t0.Add(4 * time.Second)
	s.Frames(tr, 0, vp8Stream(0xb, 2_000_000_000, second, time.Hour), video, second, 20*time.Millisecond, time.Second)
	h.feed(&s)
	m, err := h.stop()
	if err != nil {
		t.Fatal(err)
	}
	path, mt := h.fileOf(m, "dave", "video")
	if mt.SSRCChanges != 1 || mt.SkippedFrames != 0 {
		t.Errorf("%d SSRC changes, %d frames skipped; want 1 and 0", mt.SSRCChanges, mt.SkippedFrames)
	}
	checkFile(t, path, "vp8", 8)
	times, err := synth.PacketTimes(testCtx(t), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(times) != 2*len(video) {
		t.Errorf("%d frames in the file, want %d", len(times), 2*len(video))
	}
	for i := 1; i < len(times); i++ {
		if d := times[i] - times[i-1]; d < 0 || d > 0.05 {
			t.Errorf("frame %d at %.3f s follows %.3f s: want one timeline across the SSRC change", i, times[i], times[i-1])
		}
	}
}

// TestRecordWithoutSenderReports: a publisher that sends no report is
// timed by arrival, and says so in the manifest.
func TestRecordWithoutSenderReports(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	audio := opus(t, 8, 440)[:200]
	h := newHarness(t, nil)
	tr := h.add(TrackInfo{Participant: "erin", Source: SourceMicrophone, MimeType: "audio/opus"})
	var s synth.Schedule
	start := t0.Add(time.Second)
	s.Frames(tr, 0, opusStream(7, 99, start, 0), audio, start, 40*time.Millisecond, 0)
	h.feed(&s)
	m, err := h.stop()
	if err != nil {
		t.Fatal(err)
	}
	path, mt := h.fileOf(m, "erin", "audio")
	if mt.Clock != "arrival" || mt.Files[0].StartMs != 1040 {
		t.Errorf("clock %q, start %d ms; want arrival, 1040", mt.Clock, mt.Files[0].StartMs)
	}
	checkFile(t, path, "opus", 4)
}

// TestRecordLossWaitsForKeyframe: a lost frame makes the recorder drop
// the frames that depend on it up to the next keyframe, and ask for one.
func TestRecordLossWaitsForKeyframe(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	video := vp8(t, 320, 240, 30, 8)[:120]
	h := newHarness(t, nil)
	tr := h.add(TrackInfo{Participant: "fay", Source: SourceCamera, MimeType: "video/VP8"})
	st := vp8Stream(0xf, 5, t0, 0)
	var s synth.Schedule
	s.Frames(tr, 0, st, video[:15], t0, 20*time.Millisecond, time.Second)
	st.Packets(video[15].Data, t0.Add(video[15].At)) // lost on the way
	s.Frames(tr, 0, st, video[16:], t0, 20*time.Millisecond, time.Second)
	h.feed(&s)
	m, err := h.stop()
	if err != nil {
		t.Fatal(err)
	}
	path, mt := h.fileOf(m, "fay", "video")
	if mt.SkippedFrames != 14 {
		t.Errorf("%d frames skipped, want 14 (16 to 29, up to the keyframe at 1 s)", mt.SkippedFrames)
	}
	if f := mt.Files[0]; f.Frames != uint64(len(video)-15) {
		t.Errorf("%d frames written, want %d", f.Frames, len(video)-15)
	}
	if len(h.keyframeRequests()) == 0 {
		t.Error("no keyframe asked for after the loss")
	}
	checkFile(t, path, "vp8", 4)
}
