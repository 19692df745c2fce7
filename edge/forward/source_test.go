package forward

import (
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/edge/codec"
)

func TestKeyframeRateLimit(t *testing.T) {
	ms := int64(time.Millisecond)
	type ask struct {
		layer int
		at    int64
		want  bool
	}
	tests := []struct {
		name  string
		codec codec.Kind
		asks  []ask
	}{
		{"first request passes", codec.VP8, []ask{{0, 0, true}}},
		{"collapsed within the interval", codec.VP8, []ask{
			{0, 0, true}, {0, 10 * ms, false}, {0, 299 * ms, false}, {0, 300 * ms, true},
		}},
		// libwebrtc honours one request per 300 ms for all its simulcast
		// layers and answers it on every layer.
		{"one interval for all layers", codec.VP8, []ask{{0, 0, true}, {1, 1 * ms, false}, {1, 300 * ms, true}, {0, 301 * ms, false}}},
		{"audio never asks", codec.Opus, []ask{{0, 0, false}}},
		{"unknown layer", codec.VP8, []ask{{7, 0, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := NewSource(SourceConfig{Codec: tt.codec, Layers: 2})
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range tt.asks {
				if got := src.RequestKeyframe(a.layer, a.at); got != a.want {
					t.Fatalf("ask %d: %v, want %v", i, got, a.want)
				}
			}
		})
	}
}

// Many subscribers asking at once: exactly one request goes through.
func TestKeyframeRequestsCollapse(t *testing.T) {
	src, err := NewSource(SourceConfig{Codec: codec.VP8, KeyframeInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if src.RequestKeyframe(0, 5*int64(time.Millisecond)) {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st := src.LayerStats(0, 0)
	if granted != 1 || st.KeyframeRequests != 1 || st.Suppressed != 199 {
		t.Fatalf("granted %d, stats %+v", granted, st)
	}
}

func TestSourceStats(t *testing.T) {
	src, err := NewSource(SourceConfig{Codec: codec.VP8, Layers: 2})
	if err != nil {
		t.Fatal(err)
	}
	// 100 packets of 1000 bytes over one second on layer 1: 800 kbit/s.
	var size int
	for i := 0; i < 100; i++ {
		b := vp8Packet(pk{seq: uint16(i), layer: 1})
		b = append(b, make([]byte, 1000-len(b))...)
		size = len(b)
		if _, err := src.Parse(b, 1, int64(i)*int64(10*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	now := int64(time.Second)
	st := src.LayerStats(1, now)
	if st.Packets != 100 || st.Bytes != uint64(100*size) {
		t.Fatalf("stats %+v", st)
	}
	if st.Bitrate < 750_000 || st.Bitrate > 850_000 {
		t.Fatalf("bitrate %d, want about 800000", st.Bitrate)
	}
	if src.Bitrate(0, now) != 0 || src.LayerStats(0, now).Packets != 0 {
		t.Fatal("layer 0 saw packets")
	}
}

// Forward from one goroutine per layer while the RTCP side maps NACKs and
// the signalling side switches layers; run with -race.
func TestConcurrentUse(t *testing.T) {
	r := newRig(t, 3, Config{}, 1024)
	var wg sync.WaitGroup
	for layer := 0; layer < 3; layer++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				b := vp8Packet(pk{seq: uint16(i), ts: uint32(i) * 3000, layer: layer, key: i%30 == 0, pic: uint16(i)})
				p, err := r.src.Parse(b, layer, int64(i)*frame)
				if err != nil {
					t.Error(err)
					return
				}
				r.f.Forward(&p)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			r.f.SetTarget(i % 4)
			r.f.MapNACK(uint16(i))
			_ = r.f.Stats()
		}
	}()
	done := make(chan struct{})
	var consumer sync.WaitGroup
	consumer.Add(1)
	go func() {
		defer consumer.Done()
		buf := make([]byte, 1500)
		for {
			select {
			case <-done:
				return
			case <-r.q.Ready():
				for {
					if _, _, ok := pop(r.q, buf); !ok {
						break
					}
				}
			}
		}
	}()
	wg.Wait()
	close(done)
	consumer.Wait()
	// Packets of layers neither current nor targeted are filtered without
	// being counted.
	if st := r.f.Stats(); st.Packets == 0 || st.Packets+st.Filtered+st.QueueDrops > 6000 {
		t.Fatalf("implausible counters: %+v", st)
	}
}
