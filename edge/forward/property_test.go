package forward

import (
	"math/rand/v2"
	"testing"
)

// TestInvariantsUnderChurn drives one forwarder with three simulcast layers
// through random layer changes, pauses, upstream loss, reordering and
// padding, and checks what the subscriber sees:
//   - every hole in its sequence numbers maps (MapNACK) to a packet lost
//     upstream, still held back by the reordering, or overtaken by its
//     layer's keyframe at a switch (then in the cache): never to a packet
//     the forwarder dropped for no reason;
//   - MapNACK of every sequence number sent gives back its source packet;
//   - timestamps and VP8 picture IDs never go backwards in send order;
//   - every run from a new layer begins with a keyframe.
func TestInvariantsUnderChurn(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		churn(t, seed)
	}
}

type srcKey struct {
	layer int
	seq   uint16
}

func churn(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	r := newRig(t, 3, Config{}, 4096)
	lost := map[srcKey]bool{}
	early := map[srcKey]bool{}
	sentFrom := map[uint16]srcKey{} // out seq -> source
	var seqs [3]uint16
	var pics [3]uint16
	tsBase := [3]uint32{rng.Uint32(), rng.Uint32(), rng.Uint32()}
	for l := range seqs {
		seqs[l] = uint16(rng.Uint32())
		pics[l] = uint16(rng.Uint32()) & 0x7fff
	}
	wantKey := [3]bool{true, true, true}
	var (
		lastOutSeq  uint16
		lastOutTS   uint32
		lastOutPic  uint16
		haveOut     bool
		lastLayer   = -1
		pending     []pk // held back to reorder
		checkedHole = 0
	)
	held := func(k srcKey) bool {
		for _, q := range pending {
			if q.layer == k.layer && q.seq == k.seq {
				return true
			}
		}
		return false
	}
	emit := func(p pk) {
		b := vp8Packet(p)
		pkt, err := r.src.Parse(b, p.layer, p.arrival)
		if err != nil {
			t.Fatal(err)
		}
		res := r.f.Forward(&pkt)
		if res.Verdict == Filtered && int(res.KeyframeLayer) == p.layer {
			// Arrived before its layer's (reordered) keyframe: if the switch
			// then lands before it, it is a hole the cache can fill.
			early[srcKey{p.layer, p.seq}] = true
		}
		if res.KeyframeLayer >= 0 && r.src.RequestKeyframe(int(res.KeyframeLayer), p.arrival) {
			wantKey[res.KeyframeLayer] = true
		}
		for _, o := range r.drain() {
			if res.Switched && p.layer != lastLayer && !p.key {
				t.Fatalf("seed %d: switched to layer %d on a non-keyframe", seed, p.layer)
			}
			sentFrom[o.seq] = srcKey{p.layer, p.seq}
			if haveOut {
				d := int16(o.seq - lastOutSeq)
				if d > 0 {
					for s := lastOutSeq + 1; s != o.seq; s++ {
						l, src, ok := r.f.MapNACK(s)
						k := srcKey{l, src}
						if !ok || !lost[k] && !held(k) && !early[k] {
							t.Fatalf("seed %d: hole at out %d maps to layer %d seq %d (ok %v), not an upstream loss", seed, s, l, src, ok)
						}
						checkedHole++
					}
					if int32(o.ts-lastOutTS) < 0 {
						t.Fatalf("seed %d: timestamp went back from %d to %d", seed, lastOutTS, o.ts)
					}
					if int16((o.pic-lastOutPic)<<1) < 0 {
						t.Fatalf("seed %d: picture ID went back from %d to %d", seed, lastOutPic, o.pic)
					}
				}
				if d <= 0 {
					continue // a late packet, filling an earlier hole
				}
			}
			lastOutSeq, lastOutTS, lastOutPic, haveOut = o.seq, o.ts, o.pic, true
			lastLayer = p.layer
		}
	}
	for frame := int64(0); frame < 3000; frame++ {
		if rng.IntN(60) == 0 {
			if need := r.f.SetTarget(rng.IntN(4) - 1); need {
				l := r.f.Target()
				if r.src.RequestKeyframe(l, frame*33_333_333) {
					wantKey[l] = true
				}
			}
		}
		for l := 0; l < 3; l++ {
			key := wantKey[l] || rng.IntN(90) == 0
			wantKey[l] = false
			n := l + 1 // packets per frame
			for i := 0; i < n; i++ {
				p := pk{
					seq: seqs[l], ts: tsBase[l] + uint32(frame)*3000, layer: l,
					key: key && i == 0, cont: i > 0, pic: pics[l], arrival: frame*33_333_333 + int64(l*1000+i),
				}
				seqs[l]++
				if rng.IntN(50) == 0 {
					lost[srcKey{l, p.seq}] = true
					continue
				}
				if rng.IntN(50) == 0 {
					pending = append(pending, p) // delivered after the next one
					continue
				}
				emit(p)
				late := pending
				pending = nil
				for _, q := range late {
					emit(q)
				}
				if rng.IntN(100) == 0 {
					emit(pk{seq: seqs[l], ts: p.ts, layer: l, padOnly: true, arrival: p.arrival})
					seqs[l]++
				}
			}
			pics[l] = (pics[l] + 1) & 0x7fff
		}
	}
	// Every sent sequence number maps back to its source (recent ones: the
	// segment history is bounded).
	for out, src := range sentFrom {
		if int16(lastOutSeq-out) > 500 || int16(lastOutSeq-out) < 0 {
			continue
		}
		l, s, ok := r.f.MapNACK(out)
		if !ok || l != src.layer || s != src.seq {
			t.Fatalf("seed %d: MapNACK(%d) = layer %d seq %d (ok %v), sent from layer %d seq %d", seed, out, l, s, ok, src.layer, src.seq)
		}
	}
	if len(sentFrom) < 1000 || checkedHole == 0 {
		t.Fatalf("seed %d: scenario too tame: %d sent, %d holes", seed, len(sentFrom), checkedHole)
	}
}
