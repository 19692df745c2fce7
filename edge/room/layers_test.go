package room

import (
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/simulcast"
)

// remb sets the subscriber's estimate (a client without transport-cc).
func remb(sub *Participant, bps uint64) { sub.estimate.Store(bps) }

// testHold is the up hold of shortHold's allocator: short enough that the
// layers' bitrates, measured over the last second of the test's second of
// media, stay about what they were.
const testHold = 200 * time.Millisecond

// shortHold gives sub an allocator that holds testHold before going up.
func shortHold(t *testing.T, sub *Participant) {
	t.Helper()
	a, err := simulcast.NewAllocator(simulcast.AllocatorConfig{UpHold: testHold})
	if err != nil {
		t.Fatal(err)
	}
	sub.layers.alloc = a
}

// audioDown gives sub a down track of an Opus track published by owner.
func audioDown(t *testing.T, r *Room, sub *Participant, owner string) *DownTrack {
	t.Helper()
	pub := &Participant{room: r, sid: owner, identity: owner, wake: make(chan struct{}, 1), stop: make(chan struct{}), log: r.log}
	tr, err := newPubTrackCodec(pub, &livekit.TrackInfo{Sid: "TR_audio"}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000}})
	if err != nil {
		t.Fatal(err)
	}
	return subscribeTest(t, sub, tr)
}

// When not even the lowest layer fits the estimate, the video is paused
// (the audio goes on) and the subscriber told so (StreamStateUpdate); it
// resumes once the estimate has had room for a layer for the up hold, and
// the subscriber is told again.
func TestPauseAndResume(t *testing.T) {
	r, clock := testRoom()
	tr := layeredTrack(t, r, clock, "PA_pub", "TR_1", layerOpts{})
	now := testStart + int64(time.Second)
	clock.Store(now)
	sub := testSubscriber(t, r, "PA_sub")
	d := subscribeTest(t, sub, tr)
	a := audioDown(t, r, sub, "PA_talker")
	shortHold(t, sub)
	states := func() []string {
		var out []string
		for _, s := range sub.layers.states {
			out = append(out, s.ParticipantSid+"/"+s.TrackSid+" "+s.State.String())
		}
		return out
	}

	remb(sub, 1_000_000)
	sub.allocate()
	if d.down.Target() != 1 || len(states()) != 0 {
		t.Fatalf("at 1 Mbit/s: layer %d, states %v; want layer 1, nothing to tell", d.down.Target(), states())
	}
	remb(sub, 120_000) // ~79 kbit/s of audio (unmeasured: the budget and packet overhead) leave 41: not the 100 kbit/s layer
	sub.allocate()
	if d.down.Target() != -1 || !d.paused {
		t.Fatalf("at 120 kbit/s: layer %d, paused %v; want paused", d.down.Target(), d.paused)
	}
	if got := states(); len(got) != 1 || got[0] != "PA_pub/TR_1 PAUSED" {
		t.Fatalf("told %v, want PA_pub/TR_1 PAUSED", got)
	}
	if a.down.Target() != 0 {
		t.Fatalf("audio target %d while video is paused, want 0", a.down.Target())
	}
	sub.allocate()
	if got := states(); len(got) != 0 {
		t.Fatalf("told again: %v", got)
	}

	remb(sub, 250_000)
	now += int64(100 * time.Millisecond)
	clock.Store(now)
	sub.allocate()
	if d.down.Target() != -1 {
		t.Fatalf("resumed at once (layer %d), want after the up hold", d.down.Target())
	}
	now += int64(testHold)
	clock.Store(now)
	sub.allocate()
	if d.down.Target() != 0 || d.paused {
		t.Fatalf("after the up hold: layer %d, paused %v; want layer 0", d.down.Target(), d.paused)
	}
	if got := states(); len(got) != 1 || got[0] != "PA_pub/TR_1 ACTIVE" {
		t.Fatalf("told %v, want PA_pub/TR_1 ACTIVE", got)
	}
}

// The active speaker's camera is served before the others; when someone
// else speaks, the layers follow after the up hold.
func TestSpeakerFirst(t *testing.T) {
	r, clock := testRoom()
	alice := layeredTrack(t, r, clock, "PA_alice", "TR_a", layerOpts{})
	bob := layeredTrack(t, r, clock, "PA_bob", "TR_b", layerOpts{})
	now := testStart + int64(time.Second)
	clock.Store(now)
	sub := testSubscriber(t, r, "PA_sub")
	da, db := subscribeTest(t, sub, alice), subscribeTest(t, sub, bob)
	shortHold(t, sub)
	remb(sub, 2_400_000)

	alice.owner.speaking.Store(true)
	sub.allocate()
	if da.down.Target() != 2 || db.down.Target() != 0 {
		t.Fatalf("alice speaking: layers %d and %d, want 2 for alice, 0 for bob", da.down.Target(), db.down.Target())
	}
	alice.owner.speaking.Store(false)
	bob.owner.speaking.Store(true)
	now += int64(100 * time.Millisecond)
	clock.Store(now)
	sub.allocate()
	if da.down.Target() != 2 || db.down.Target() != 0 {
		t.Fatalf("at once after bob speaks: layers %d and %d, want them kept for the up hold", da.down.Target(), db.down.Target())
	}
	now += int64(testHold)
	clock.Store(now)
	sub.allocate()
	if da.down.Target() >= 2 || db.down.Target() != 2 {
		t.Fatalf("bob speaking: layers %d and %d, want 2 for bob, less for alice", da.down.Target(), db.down.Target())
	}
}

// The speakers the room hears are the ones the layer choice serves first.
func TestSpeakingFlag(t *testing.T) {
	r, _ := testRoom()
	alice := &Participant{room: r, sid: "PA_a", identity: "alice"}
	r.participants["alice"] = alice
	tr, err := newPubTrackCodec(alice, &livekit.TrackInfo{Sid: "TR_a"}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000}})
	if err != nil {
		t.Fatal(err)
	}
	r.tracks[tr.sid] = tr
	tr.media.NoteLevel(20)
	r.speakerChanges()
	if !alice.speaking.Load() {
		t.Fatal("alice speaks, not flagged")
	}
	for i := 0; i <= speakerHoldTick; i++ {
		r.speakerChanges()
	}
	if alice.speaking.Load() {
		t.Fatal("alice silent, still flagged")
	}
}

// Dynacast: a layer nobody watched is paused at the publisher, so it is
// not active. A subscriber asking for it gets it enabled at the publisher
// again, and takes it as soon as it arrives (at once, from the keyframe
// the publisher resumes it with), not after the up hold.
func TestDynacastResumesUnwatchedLayer(t *testing.T) {
	r, clock := testRoom()
	tr := layeredTrack(t, r, clock, "PA_pub", "TR_1", layerOpts{missing: []int{2}})
	now := testStart + int64(time.Second)
	clock.Store(now)
	sub := testSubscriber(t, r, "PA_sub")
	d := subscribeTest(t, sub, tr)
	remb(sub, 10_000_000)
	sub.onTrackSettings(&livekit.UpdateTrackSettings{TrackSids: []string{"TR_1"}, Quality: livekit.VideoQuality_LOW})
	if tr.demand.Enabled(2) || !tr.demand.Enabled(0) {
		t.Fatalf("asking for LOW: HIGH enabled %v, LOW %v", tr.demand.Enabled(2), tr.demand.Enabled(0))
	}
	sub.onTrackSettings(&livekit.UpdateTrackSettings{TrackSids: []string{"TR_1"}, Quality: livekit.VideoQuality_HIGH})
	if !tr.demand.Enabled(2) {
		t.Fatal("asking for HIGH, which nobody received: not enabled at the publisher")
	}
	if d.down.Target() != 1 {
		t.Fatalf("layer %d while HIGH is not sent, want 1", d.down.Target())
	}
	// The publisher resumes HIGH, with a keyframe.
	feedLayer(t, tr, 2, 8333, clock, now, true, 0)
	now += int64(time.Second)
	clock.Store(now)
	sub.allocate()
	if d.down.Target() != 2 {
		t.Fatalf("layer %d once HIGH arrives, want 2 at once", d.down.Target())
	}
}

// Connection quality: a participant whose received tracks are lossy, or
// whose video is far below what it asked for, is rated down; one whose
// published media arrives lossy too.
func TestConnectionQuality(t *testing.T) {
	r, clock := testRoom()
	clean := layeredTrack(t, r, clock, "PA_clean", "TR_c", layerOpts{})
	lossy := layeredTrack(t, r, clock, "PA_lossy", "TR_l", layerOpts{drop: 4})
	now := testStart + int64(time.Second)
	clock.Store(now)
	good := testSubscriber(t, r, "PA_good")
	subscribeTest(t, good, clean)
	bad := testSubscriber(t, r, "PA_bad")
	d := subscribeTest(t, bad, clean)
	starved := testSubscriber(t, r, "PA_starved")
	subscribeTest(t, starved, clean)

	for _, p := range []*Participant{good, bad, starved} {
		remb(p, 10_000_000)
	}
	remb(starved, 150_000) // the lowest layer, not the 720p it wants
	// bad's receiver reports: 25 % lost.
	rr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: 1, FractionLost: 64}}}})
	d.handleRTCP(rr, nil, make([]byte, 1500))
	for _, p := range []*Participant{good, bad, starved} {
		p.allocate()
		p.rateDownstream()
	}
	infos, _ := r.qualityInfos()
	got := map[string]livekit.ConnectionQuality{}
	for _, i := range infos {
		got[i.ParticipantSid] = i.Quality
		if i.Score < 1 || i.Score > 4.5 {
			t.Errorf("%s: score %v outside 1..4.5", i.ParticipantSid, i.Score)
		}
	}
	want := map[string]livekit.ConnectionQuality{
		"PA_clean":   livekit.ConnectionQuality_EXCELLENT,
		"PA_lossy":   livekit.ConnectionQuality_GOOD, // 25 % lost upstream
		"PA_good":    livekit.ConnectionQuality_EXCELLENT,
		"PA_bad":     livekit.ConnectionQuality_GOOD,
		"PA_starved": livekit.ConnectionQuality_POOR, // two layers short
	}
	for sid, q := range want {
		if got[sid] != q {
			t.Errorf("%s: %v, want %v", sid, got[sid], q)
		}
	}
	if _, got := lossy.media.Reception(); got == 0 {
		t.Fatal("the lossy track received nothing")
	}
}

func TestRatings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rtt    time.Duration
		jitter time.Duration
		loss   float64
		want   livekit.ConnectionQuality
	}{
		{"clean", 40 * time.Millisecond, 5 * time.Millisecond, 0, livekit.ConnectionQuality_EXCELLENT},
		{"5 % loss", 40 * time.Millisecond, 5 * time.Millisecond, 0.05, livekit.ConnectionQuality_EXCELLENT},
		{"25 % loss", 40 * time.Millisecond, 5 * time.Millisecond, 0.25, livekit.ConnectionQuality_GOOD},
		{"70 % loss", 40 * time.Millisecond, 5 * time.Millisecond, 0.7, livekit.ConnectionQuality_POOR},
		{"satellite round trip", 700 * time.Millisecond, 0, 0, livekit.ConnectionQuality_GOOD},
		{"round trip and jitter", 800 * time.Millisecond, 200 * time.Millisecond, 0.02, livekit.ConnectionQuality_POOR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := qualityOf(pathRating(tc.rtt, tc.jitter, tc.loss)); got != tc.want {
				t.Fatalf("%v (rating %.1f), want %v", got, pathRating(tc.rtt, tc.jitter, tc.loss), tc.want)
			}
		})
	}
	off := simulcast.Pick{Spatial: -1, Temporal: -1}
	top := simulcast.Pick{Spatial: 2, Temporal: simulcast.AllTemporal}
	for _, tc := range []struct {
		name string
		al   simulcast.Allocation
		want livekit.ConnectionQuality
	}{
		{"what it wants", simulcast.Allocation{Pick: top, Wanted: top}, livekit.ConnectionQuality_EXCELLENT},
		{"half the frame rate", simulcast.Allocation{Pick: simulcast.Pick{Spatial: 2, Temporal: 1}, Wanted: top}, livekit.ConnectionQuality_EXCELLENT},
		{"a layer short", simulcast.Allocation{Pick: simulcast.Pick{Spatial: 1, Temporal: simulcast.AllTemporal}, Wanted: top}, livekit.ConnectionQuality_GOOD},
		{"two layers short", simulcast.Allocation{Pick: simulcast.Pick{Spatial: 0, Temporal: simulcast.AllTemporal}, Wanted: top}, livekit.ConnectionQuality_POOR},
		{"paused", simulcast.Allocation{Pick: off, Wanted: top, Paused: true}, livekit.ConnectionQuality_POOR},
		{"wants nothing", simulcast.Allocation{Pick: off, Wanted: off}, livekit.ConnectionQuality_EXCELLENT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := qualityOf(layerRating(layerDistance(tc.al))); got != tc.want {
				t.Fatalf("%v, want %v", got, tc.want)
			}
		})
	}
	if mosOf(maxRating) != 4.5 || mosOf(0) != 1 || mosOf(50) <= 1 || mosOf(50) >= 4.5 {
		t.Fatal("MOS outside 1..4.5")
	}
}

// A subscriber that cannot decode (PLI or FIR: it lost what the edge
// could not send again) makes the edge ask the publisher for a keyframe
// of the layer it gets, at most once per keyframe interval for the track.
func TestSubscriberPLIReachesPublisher(t *testing.T) {
	sub, d := layeredSubscriber(t)
	sub.sink.SetInline(true)
	remb(sub, 1_000_000)
	sub.allocate()
	layer := d.down.Current()
	if layer < 0 {
		t.Fatal("not started from the cached keyframe")
	}
	src := d.track.media.Source()
	now := sub.room.mgr.now()
	before := src.LayerStats(layer, now).KeyframeRequests
	pli, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: 1}})
	fir, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: 1}}}})
	d.handleRTCP(pli, nil, make([]byte, 1500))
	if got := src.LayerStats(layer, now).KeyframeRequests; got != before+1 {
		t.Fatalf("%d keyframe requests to the publisher after a PLI, want %d", got, before+1)
	}
	d.handleRTCP(fir, nil, make([]byte, 1500))
	if got := src.LayerStats(layer, now).KeyframeRequests; got != before+1 {
		t.Fatalf("%d keyframe requests after a FIR within the interval, want still %d", got, before+1)
	}
}

// A layer with nothing measured over the last second (stalled, though
// still counted as sent) costs what the publisher announced, not nothing:
// a subscriber with 1 Mbit/s does not get the 720p layer announced at 1.7
// Mbit/s because nothing was counted lately.
func TestUnmeasuredLayerCostsWhatWasAnnounced(t *testing.T) {
	r, clock := testRoom()
	tr := layeredTrack(t, r, clock, "PA_pub", "TR_1", layerOpts{})
	tr.updateInfo(func(i *livekit.TrackInfo) {
		for j, b := range []uint32{150_000, 500_000, 1_700_000} {
			//lint:ignore SA1019 the test sets a layer's bitrate where a client announces it
			i.Layers[j].Bitrate = b
		}
	})
	// A second after the last packets: nothing within the meters'
	// window, the layers still active.
	now := testStart + int64(1980*time.Millisecond)
	clock.Store(now)
	sub := testSubscriber(t, r, "PA_sub")
	d := subscribeTest(t, sub, tr)
	d.scratch = tr.simLayers(now, d.scratch)
	if got := d.scratch[2].Bitrate; got != 1_700_000 {
		t.Fatalf("unmeasured 720p costs %d, want the announced 1700000", got)
	}
	remb(sub, 1_000_000)
	sub.allocate()
	if d.down.Target() != 1 {
		t.Fatalf("layer %d at 1 Mbit/s before any bitrate was measured, want 1", d.down.Target())
	}
}

// A track describes its layers once per layerViewAge for all its
// subscribers' layer choices, and afresh after.
func TestLayerViewShared(t *testing.T) {
	r, clock := testRoom()
	tr := layeredTrack(t, r, clock, "PA_pub", "TR_1", layerOpts{})
	now := testStart + int64(time.Second)
	first := tr.simLayers(now, nil)
	v := tr.view.Load()
	again := tr.simLayers(now+layerViewAge-1, nil)
	if tr.view.Load() != v || len(again) != len(first) || again[2] != first[2] {
		t.Fatal("described again within layerViewAge")
	}
	tr.simLayers(now+layerViewAge, nil)
	if tr.view.Load() == v {
		t.Fatal("a description older than layerViewAge still served")
	}
}

// Audio takes what its publisher sends of it (Opus in RED is about twice
// plain Opus) plus its packets' overhead from the subscriber's estimate,
// before the video's layers are chosen; an audio track not yet measured
// takes the budget.
func TestAudioCostIsMeasured(t *testing.T) {
	r, clock := testRoom()
	now := testStart + int64(time.Second)
	clock.Store(now)
	sub := testSubscriber(t, r, "AC_sub")
	a := audioDown(t, r, sub, "AC_talker")
	if got, want := a.audioCost(now), uint64(audioBudget+audioOverhead); got != want {
		t.Fatalf("unmeasured audio costs %d, want the budget %d", got, want)
	}
	feedLayer(t, a.track, 0, 400, clock, testStart, false, 0) // 400 bytes 30 times a second: ~100 kbit/s
	now += layerViewAge                                       // past the layer view read above
	clock.Store(now)
	got := a.audioCost(now)
	if lo, hi := uint64(85_000+audioOverhead), uint64(110_000+audioOverhead); got < lo || got > hi {
		t.Fatalf("audio of ~100 kbit/s costs %d, want %d–%d", got, lo, hi)
	}
}

// A layer received for less than simulcast.RampWindow costs at least what
// its publisher announced (its encoder is still climbing: the first
// seconds' bitrate would place a new subscriber on a layer that costs
// twice as much a second later); once it has run that long, what was
// measured counts.
func TestRampingLayerCostsWhatWasAnnounced(t *testing.T) {
	r, clock := testRoom()
	tr := layeredTrack(t, r, clock, "PA_pub", "TR_1", layerOpts{}) // 720p: ~2 Mbit/s from testStart
	tr.updateInfo(func(i *livekit.TrackInfo) {
		for j, b := range []uint32{150_000, 500_000, 3_000_000} {
			//lint:ignore SA1019 the test sets a layer's bitrate where a client announces it
			i.Layers[j].Bitrate = b
		}
	})
	now := testStart + int64(990*time.Millisecond)
	clock.Store(now)
	l := tr.simLayers(now, nil)
	if !l[2].Ramping || l[2].Bitrate != 3_000_000 {
		t.Fatalf("a second in: 720p ramping %v, costs %d; want ramping at the announced 3000000", l[2].Ramping, l[2].Bitrate)
	}
	// Another track whose 720p has run for 6 s.
	tr2 := layeredTrack(t, r, clock, "PA_pub2", "TR_2", layerOpts{missing: []int{2}})
	tr2.updateInfo(func(i *livekit.TrackInfo) {
		//lint:ignore SA1019 the test sets a layer's bitrate where a client announces it
		i.Layers[2].Bitrate = 3_000_000
	})
	feedLayerFor(t, tr2, 2, 8333, clock, testStart, false, 0, 6)
	now = testStart + int64(5990*time.Millisecond)
	clock.Store(now)
	l = tr2.simLayers(now, nil)
	if l[2].Ramping || l[2].Bitrate < 1_500_000 || l[2].Bitrate > 2_500_000 {
		t.Fatalf("after the ramp window: 720p ramping %v, costs %d; want the measured ~2 Mbit/s", l[2].Ramping, l[2].Bitrate)
	}
}

// A move up waits for the up hold; in the hold's last second the
// subscriber's connection is padded up to what the better layers cost
// (bwe.Estimator.Fill), once per pending move, so that a path that cannot
// carry them shows it before a keyframe of the higher layer is sent.
func TestMoveUpIsCheckedByAFill(t *testing.T) {
	r, clock := testRoom()
	tr := layeredTrack(t, r, clock, "PA_pub", "TR_1", layerOpts{})
	now := testStart + int64(time.Second)
	clock.Store(now)
	sub := testSubscriber(t, r, "PA_sub")
	d := subscribeTest(t, sub, tr)
	a, err := simulcast.NewAllocator(simulcast.AllocatorConfig{UpHold: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sub.layers.alloc = a
	// The start probes' episode ends (no feedback within its timeout).
	sub.bwe.WantProbe(0, now)
	sub.bwe.WantProbe(0, now+int64(2*time.Second))

	tracks := []simulcast.Track{{Layers: tr.simLayers(now, nil), Request: d.req, Current: simulcast.Pick{Spatial: 0, Temporal: simulcast.AllTemporal}}}
	sub.layers.allocs = a.Allocate(100_000_000, tracks, now, nil)
	if _, _, ok := a.Pending(now); !ok {
		t.Fatal("no move up pending at 100 Mbit/s from the lowest layer")
	}
	sub.verifyUp(0, now)
	if f := sub.bwe.Stats().Fills; f != 0 {
		t.Fatalf("%d fills with the hold's 3 s ahead, want none before its last second", f)
	}
	later := now + int64(2500*time.Millisecond)
	sub.layers.allocs = a.Allocate(100_000_000, tracks, later, sub.layers.allocs)
	sub.verifyUp(0, later)
	sub.verifyUp(0, later+int64(100*time.Millisecond))
	if f := sub.bwe.Stats().Fills; f != 1 {
		t.Fatalf("%d fills in the hold's last second, want 1", f)
	}
}

// A move up waits for its fill: while the estimator cannot start one (a
// probe is under way) the move stays pending past its hold; once a fill
// runs, the move is taken when the fill has run its course.
func TestMoveUpWaitsForItsFill(t *testing.T) {
	r, clock := testRoom()
	tr := layeredTrack(t, r, clock, "PA_pub", "TR_1", layerOpts{})
	now := testStart + int64(time.Second)
	clock.Store(now)
	sub := testSubscriber(t, r, "PA_sub")
	d := subscribeTest(t, sub, tr)
	a, err := simulcast.NewAllocator(simulcast.AllocatorConfig{UpHold: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sub.layers.alloc = a
	sub.bwe.WantProbe(0, now) // the start probes: an episode under way
	if !sub.bwe.Estimate().Probing {
		t.Fatal("no probe under way at the start")
	}
	tracks := []simulcast.Track{{Layers: tr.simLayers(now, nil), Request: d.req, Current: simulcast.Pick{Spatial: 0, Temporal: simulcast.AllTemporal}}}
	step := func(at int64) simulcast.Pick {
		a.HoldUp(sub.upUnchecked(at))
		sub.layers.allocs = a.Allocate(100_000_000, tracks, at, sub.layers.allocs)
		sub.verifyUp(0, at)
		return sub.layers.allocs[0].Pick
	}
	if p := step(now); p.Spatial != 0 {
		t.Fatalf("moved to %v at once", p)
	}
	if f := sub.bwe.Stats().Fills; f != 0 {
		t.Fatalf("%d fills while a probe was under way", f)
	}
	// The hold is over, the fill never ran: the move waits.
	if p := step(now + int64(1500*time.Millisecond)); p.Spatial != 0 {
		t.Fatalf("moved to %v unchecked, past the hold", p)
	}
	// The probe episode times out; the next tick's fill starts.
	free := now + int64(2500*time.Millisecond)
	sub.bwe.WantProbe(0, free)
	if p := step(free); p.Spatial != 0 || sub.bwe.Stats().Fills != 1 {
		t.Fatalf("at the fill's start: %v, %d fills; want still layer 0 and one fill", p, sub.bwe.Stats().Fills)
	}
	if p := step(free + int64(200*time.Millisecond)); p.Spatial != 0 {
		t.Fatalf("moved to %v while its fill runs", p)
	}
	if p := step(free + int64(fillBefore)); p.Spatial != 2 {
		t.Fatalf("at %v after the fill began: layer %v, want the move taken", fillBefore, p)
	}
}
