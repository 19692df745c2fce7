package cache

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/edge/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// packet builds an RTP packet whose payload is a VP8 descriptor (key frame
// or not) followed by the sequence number, so contents can be checked.
func packet(seq uint16, ts uint32, key bool, size int) []byte {
	b := make([]byte, max(size, 20))
	b[0] = 0x80
	b[1] = 96
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], 0x1234)
	b[12] = 0x10 // VP8: S=1 PID=0, no extension
	if key {
		b[13] = 0x10 // P=0
	} else {
		b[13] = 0x11
	}
	binary.BigEndian.PutUint16(b[14:], seq)
	return b
}

func newCache(t testing.TB, capacity int) *Cache {
	t.Helper()
	c, err := New(Config{Capacity: capacity, Codec: codec.VP8})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
		cap  int
	}{
		{"defaults", Config{}, true, DefaultCapacity},
		{"rounded up", Config{Capacity: 100}, true, 128},
		{"too large", Config{Capacity: 1 << 16}, false, 0},
		{"negative", Config{Capacity: -1}, false, 0},
		{"huge packets", Config{MaxPacket: 1 << 20}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("err %v is not ErrConfig", err)
				}
				return
			}
			if c.Capacity() != tt.cap {
				t.Fatalf("capacity %d, want %d", c.Capacity(), tt.cap)
			}
		})
	}
}

func TestStoreGet(t *testing.T) {
	tests := []struct {
		name   string
		cap    int
		stored []uint16
		get    uint16
		want   bool
	}{
		{"hit", 16, []uint16{1, 2, 3}, 2, true},
		{"never stored", 16, []uint16{1, 2, 3}, 5, false},
		{"gap", 16, []uint16{1, 3}, 2, false},
		{"empty cache", 16, nil, 0, false},
		{"wraparound before", 16, []uint16{65534, 65535, 0, 1}, 65535, true},
		{"wraparound after", 16, []uint16{65534, 65535, 0, 1}, 1, true},
		{"wraparound oldest", 16, []uint16{65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2}, 65530, true},
		{"evicted", 16, seqRange(100, 140), 110, false},
		{"kept after eviction", 16, seqRange(100, 140), 125, true},
		{"reordered", 16, []uint16{10, 12, 11}, 11, true},
		{"same slot next cycle", 16, []uint16{5, 21}, 5, false},
		{"far future is a miss", 16, []uint16{5}, 5 + 100, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(t, tt.cap)
			for _, s := range tt.stored {
				c.Store(packet(s, uint32(s)*3000, false, 100))
			}
			dst := make([]byte, 1500)
			n, ok := c.Get(tt.get, dst)
			if ok != tt.want {
				t.Fatalf("Get(%d) ok = %v, want %v", tt.get, ok, tt.want)
			}
			if ok && (n != 100 || binary.BigEndian.Uint16(dst[2:]) != tt.get || binary.BigEndian.Uint16(dst[14:]) != tt.get) {
				t.Fatalf("Get(%d) returned another packet (n=%d)", tt.get, n)
			}
		})
	}
}

func seqRange(from, to int) []uint16 {
	var s []uint16
	for i := from; i < to; i++ {
		s = append(s, uint16(i))
	}
	return s
}

func TestStoreRejects(t *testing.T) {
	c, err := New(Config{Capacity: 16, MaxPacket: 200})
	if err != nil {
		t.Fatal(err)
	}
	if c.Store([]byte{1, 2, 3}) {
		t.Fatal("stored a non-RTP packet")
	}
	if c.Store(packet(1, 0, false, 201)) {
		t.Fatal("stored a packet above MaxPacket")
	}
	for _, s := range seqRange(1000, 1040) {
		if !c.Store(packet(s, 0, false, 100)) {
			t.Fatalf("did not store %d", s)
		}
	}
	if c.Store(packet(1000, 0, false, 100)) {
		t.Fatal("stored a packet older than the ring")
	}
	// A duplicate (a retransmission that crossed its late original, a probe
	// repeating a recent packet) is refused, newest or not; the packet a
	// late arrival fills in is not a duplicate.
	if c.Store(packet(1039, 0, false, 100)) || c.Store(packet(1030, 0, false, 100)) {
		t.Fatal("stored a duplicate")
	}
	if !c.Store(packet(1042, 0, false, 100)) || !c.Store(packet(1041, 0, false, 100)) {
		t.Fatal("did not store a late packet that fills a hole")
	}
	if _, ok := c.Get(1039, make([]byte, 99)); ok {
		t.Fatal("Get into a too-short buffer succeeded")
	}
}

func TestKeyframe(t *testing.T) {
	type step struct {
		seq uint16
		ts  uint32
		key bool
	}
	tests := []struct {
		name        string
		cap         int
		steps       []step
		ok          bool
		first, last uint16
	}{
		{"none", 16, []step{{1, 0, false}, {2, 0, false}}, false, 0, 0},
		{"single packet", 16, []step{{1, 0, false}, {2, 90, true}, {3, 180, false}}, true, 2, 2},
		{"multi packet", 16, []step{{1, 90, true}, {2, 90, false}, {3, 90, false}, {4, 180, false}}, true, 1, 3},
		{"newest wins", 16, []step{{1, 90, true}, {2, 90, false}, {3, 180, true}, {4, 270, false}}, true, 3, 3},
		{"across wraparound", 16, []step{{65535, 90, true}, {0, 90, false}, {1, 90, false}}, true, 65535, 1},
		{"late older keyframe ignored", 16, []step{{5, 90, true}, {3, 0, true}}, true, 5, 5},
		{"evicted", 4, []step{{1, 90, true}, {2, 180, false}, {3, 270, false}, {4, 360, false}, {5, 450, false}}, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(t, tt.cap)
			for _, s := range tt.steps {
				c.Store(packet(s.seq, s.ts, s.key, 50))
			}
			first, last, ok := c.Keyframe()
			if ok != tt.ok || first != tt.first || last != tt.last {
				t.Fatalf("Keyframe() = %d, %d, %v; want %d, %d, %v", first, last, ok, tt.first, tt.last, tt.ok)
			}
		})
	}
}

// One writer, several readers: every packet read must be whole and the one
// asked for (run with -race).
func TestConcurrentReaders(t *testing.T) {
	c := newCache(t, 64)
	const total = 20000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]byte, 1500)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				seq := uint16(i * 7)
				n, ok := c.Get(seq, dst)
				if !ok {
					continue
				}
				if n != 300 || binary.BigEndian.Uint16(dst[2:]) != seq || binary.BigEndian.Uint16(dst[14:]) != seq || dst[299] != byte(seq) {
					errs <- errors.New("torn or wrong packet")
					return
				}
			}
		}()
	}
	for i := 0; i < total; i++ {
		p := packet(uint16(i), uint32(i), i%100 == 0, 300)
		p[299] = byte(i)
		c.Store(p)
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func BenchmarkStore(b *testing.B) {
	c := newCache(b, 512)
	p := packet(0, 0, false, 1200)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	var seq uint16
	for b.Loop() {
		binary.BigEndian.PutUint16(p[2:], seq)
		c.Store(p)
		seq++
	}
}

func BenchmarkGet(b *testing.B) {
	c := newCache(b, 512)
	for i := 0; i < 512; i++ {
		c.Store(packet(uint16(i), 0, false, 1200))
	}
	dst := make([]byte, 1500)
	b.ReportAllocs()
	var i uint16
	for b.Loop() {
		if _, ok := c.Get(i&511, dst); !ok {
			b.Fatal("miss")
		}
		i++
	}
}

func TestNewest(t *testing.T) {
	c := newCache(t, 16)
	if _, ok := c.Newest(); ok {
		t.Fatal("empty cache has a newest packet")
	}
	for _, s := range []uint16{65535, 0, 2, 1} {
		c.Store(packet(s, 0, false, 50))
	}
	if n, ok := c.Newest(); !ok || n != 2 {
		t.Fatalf("Newest = %d, %v; want 2", n, ok)
	}
}
