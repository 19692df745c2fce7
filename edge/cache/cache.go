package cache

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/spacecast/spacecast/edge/codec"
)

// Defaults.
const (
	DefaultCapacity  = 512  // packets: ~1 s of 4 Mbit/s video
	DefaultMaxPacket = 1500 // bytes: an Ethernet MTU
	maxCapacity      = 1 << 15
)

// ErrConfig is returned by New for an invalid Config.
var ErrConfig = errors.New("cache: invalid config")

// Config sizes a Cache. Zero values mean the defaults.
type Config struct {
	// Capacity is the number of packets kept; rounded up to a power of two,
	// at most 32768 (half the sequence space, so lookups are unambiguous).
	Capacity int
	// MaxPacket is the largest packet stored; longer packets are not cached.
	MaxPacket int
	// Codec selects keyframe detection for Store (codec.Unknown: none).
	Codec codec.Kind
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Capacity < 0 || c.Capacity > maxCapacity {
		return fmt.Errorf("%w: capacity %d not in [0, %d]", ErrConfig, c.Capacity, maxCapacity)
	}
	if c.MaxPacket < 0 || c.MaxPacket > 1<<16 {
		return fmt.Errorf("%w: max packet %d", ErrConfig, c.MaxPacket)
	}
	return nil
}

type slot struct {
	mu  sync.Mutex
	ext uint64 // extended sequence number + 1; 0 = empty
	n   int
}

// Cache is a per-track RTP packet cache. See the package documentation.
type Cache struct {
	kind     codec.Kind
	mask     uint64
	slotSize int
	buf      []byte
	slots    []slot

	// writer-owned
	started bool
	highest uint64 // extended sequence number of the newest packet
	kfTS    uint32

	// shared with readers
	top atomic.Uint64 // highest + 1; 0 while empty
	// kf packs the newest keyframe: the extended sequence number + 1 of its
	// first packet in the low 48 bits, the number of further packets of that
	// frame stored so far in the high 16 bits. One word, so readers see a
	// consistent pair.
	kf atomic.Uint64
}

// New allocates a Cache.
func New(cfg Config) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.MaxPacket == 0 {
		cfg.MaxPacket = DefaultMaxPacket
	}
	n := 1
	for n < cfg.Capacity {
		n <<= 1
	}
	return &Cache{
		kind:     cfg.Codec,
		mask:     uint64(n - 1),
		slotSize: cfg.MaxPacket,
		buf:      make([]byte, n*cfg.MaxPacket),
		slots:    make([]slot, n),
	}, nil
}

// Capacity is the number of packets the cache holds.
func (c *Cache) Capacity() int { return len(c.slots) }

// unwrapBase is where the first packet's extended sequence number starts,
// so reordered packets before it still unwrap to positive values.
const unwrapBase = 1 << 32

const kfMask = 1<<48 - 1

// Store copies an RTP packet into the cache, detecting keyframes with the
// configured codec. It reports false if the packet was not stored: not RTP,
// longer than MaxPacket, older than the whole cache, or already there (a
// duplicate: a retransmission that crossed a late original, or a
// publisher's bandwidth probe that repeats recent packets on RTX).
func (c *Cache) Store(pkt []byte) bool {
	h, err := codec.ParseRTP(pkt)
	if err != nil {
		return false
	}
	kf := c.kind.IsVideo() && codec.IsKeyframe(c.kind, pkt[h.PayloadOffset:h.PayloadEnd])
	return c.StoreParsed(pkt, h.Seq, h.Timestamp, kf)
}

// StoreParsed is Store for a caller that has already parsed the packet:
// seq and ts are its RTP sequence number and timestamp, keyframe says
// whether it is the first packet of a keyframe.
func (c *Cache) StoreParsed(pkt []byte, seq uint16, ts uint32, keyframe bool) bool {
	if len(pkt) > c.slotSize {
		return false
	}
	var ext uint64
	if !c.started {
		c.started = true
		ext = unwrapBase + uint64(seq)
		c.highest = ext
	} else {
		ext = c.highest + uint64(int64(int16(seq-uint16(c.highest))))
		if int64(ext-c.highest) > 0 {
			c.highest = ext
		} else if c.highest-ext > c.mask {
			return false // older than anything the ring can hold
		}
	}
	i := ext & c.mask
	s := &c.slots[i]
	off := int(i) * c.slotSize
	s.mu.Lock()
	if s.ext == ext+1 {
		s.mu.Unlock()
		return false // a duplicate
	}
	s.ext = ext + 1
	s.n = copy(c.buf[off:off+c.slotSize], pkt)
	s.mu.Unlock()
	c.top.Store(c.highest + 1)

	kf := c.kf.Load()
	first, more := kf&kfMask, kf>>48
	switch {
	case keyframe && ext+1 > first:
		c.kfTS = ts
		c.kf.Store(ext + 1)
	case first != 0 && ts == c.kfTS && ext+1 > first+more && ext+1-first < 1<<16:
		c.kf.Store(first | (ext+1-first)<<48)
	}
	return true
}

// resolve maps a 16-bit sequence number to the extended one nearest to the
// newest stored packet.
func (c *Cache) resolve(seq uint16) (uint64, bool) {
	top := c.top.Load()
	if top == 0 {
		return 0, false
	}
	highest := top - 1
	ext := highest + uint64(int64(int16(seq-uint16(highest))))
	if int64(ext-highest) > 0 || highest-ext > c.mask {
		return 0, false
	}
	return ext, true
}

// Get copies the packet with sequence number seq into dst and returns its
// length. It reports false if the packet is not in the cache or dst is too
// short. It never allocates.
func (c *Cache) Get(seq uint16, dst []byte) (int, bool) {
	ext, ok := c.resolve(seq)
	if !ok {
		return 0, false
	}
	s := &c.slots[ext&c.mask]
	off := int(ext&c.mask) * c.slotSize
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ext != ext+1 || len(dst) < s.n {
		return 0, false
	}
	return copy(dst, c.buf[off:off+s.n]), true
}

// Keyframe returns the sequence numbers of the first and the newest stored
// packet of the newest keyframe (all packets that share its timestamp), if
// its first packet is still in the cache. A caller can Get first..last to
// replay the keyframe.
func (c *Cache) Keyframe() (first, last uint16, ok bool) {
	kf := c.kf.Load()
	f, more := kf&kfMask, kf>>48
	top := c.top.Load()
	if f == 0 || top == 0 || top-f > c.mask {
		return 0, 0, false
	}
	return uint16(f - 1), uint16(f - 1 + more), true
}

// Newest returns the sequence number of the newest stored packet.
func (c *Cache) Newest() (uint16, bool) {
	top := c.top.Load()
	if top == 0 {
		return 0, false
	}
	return uint16(top - 1), true
}
