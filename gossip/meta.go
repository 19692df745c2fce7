package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// MetaLimit is memberlist's limit on node metadata.
const MetaLimit = 512

// ErrMetaTooLarge means the encoded metadata does not fit in MetaLimit bytes.
var ErrMetaTooLarge = errors.New("gossip: metadata larger than 512 bytes")

// errMeta marks metadata that cannot be decoded.
var errMeta = errors.New("gossip: malformed metadata")

// Load is a node's current load, as the edge measures it.
type Load struct {
	// CPU is the CPU use in percent of the whole machine (0–100).
	CPU float64
	// Participants and Tracks are the counts on this node.
	Participants int
	Tracks       int
	// BandwidthKbps is the outgoing media bandwidth in kbit/s.
	BandwidthKbps int
}

// Meta is what a node tells the cluster about itself. The node ID and role
// and region come from Config; the rest from UpdateMeta, SetLoad and
// SetDraining.
type Meta struct {
	NodeID string
	Role   string
	Region string
	// SignalURL is the edge's LiveKit signalling base URL (ws:// or wss://).
	SignalURL string
	// TURNURLs are the edge's TURN/STUN URLs.
	TURNURLs []string
	// MediaAddrs are the addresses and ports the edge's media is reached
	// at (its ICE host candidates, UDP and TCP ports): the other edges'
	// embedded TURN servers relay to them (turn.Server.SetPeers).
	MediaAddrs []netip.AddrPort
	// RelayAddr is the host:port other edges reach this edge's
	// edge-to-edge media relay at (edge/relay); empty when it has none.
	RelayAddr string
	// ProbeURL is the URL clients measure their RTT to (see RegionList).
	ProbeURL string
	Load     Load
	Draining bool
	// Leaving is set by a node that is shutting down gracefully, just before
	// it leaves: the others then report EventLeave rather than EventFail.
	Leaving bool
	// MaxParticipants is the capacity; 0 means unlimited.
	MaxParticipants int
	Version         string
	// WANAddr is the host:port of the node's WAN pool when it has a wan
	// section (Config.WAN), whether it is in the WAN pool or not.
	WANAddr string
	// WAN is set while the node is a member of the WAN pool: it relays
	// membership, the room directory and revocations between its region
	// and the others.
	WAN bool
}

// Full reports whether the node cannot take one more participant.
func (m Meta) Full() bool {
	return m.MaxParticipants > 0 && m.Load.Participants >= m.MaxParticipants
}

// Layout (version 1): a version byte, then in order: node id, role, region,
// signal URL, TURN URL count + URLs, relay address, probe URL, software
// version (each a uvarint length + bytes); then CPU in per-mille,
// participants, tracks, bandwidth, max participants (uvarints) and a flags
// byte (bit 0: draining, bit 1: leaving, bit 2: in the WAN pool). An
// optional trailer follows, which decoders that predate it ignore: the
// metadata's sequence number (uvarint), the WAN address (uvarint length +
// bytes) and, when there are any, the media addresses (a uvarint count,
// then each as a uvarint length + netip.AddrPort's binary form: 6 bytes
// for IPv4, 18 for IPv6). The sequence number orders the copies of a
// node's metadata that travel between regions: the node raises it with
// every change. Each part of the trailer is optional in turn: a decoder
// reads what is there.
const metaVersion = 1

func (m Meta) encode() ([]byte, error) { return encodeMeta(m, 0) }

// encodeMeta encodes m with sequence number seq.
func encodeMeta(m Meta, seq uint64) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, metaVersion)
	str := func(s string) { b = binary.AppendUvarint(b, uint64(len(s))); b = append(b, s...) }
	str(m.NodeID)
	str(m.Role)
	str(m.Region)
	str(m.SignalURL)
	b = binary.AppendUvarint(b, uint64(len(m.TURNURLs)))
	for _, u := range m.TURNURLs {
		str(u)
	}
	str(m.RelayAddr)
	str(m.ProbeURL)
	str(m.Version)
	cpu := m.Load.CPU
	if cpu < 0 || math.IsNaN(cpu) {
		cpu = 0
	}
	b = binary.AppendUvarint(b, uint64(math.Min(cpu, 1e6)*10))
	b = binary.AppendUvarint(b, nonNeg(m.Load.Participants))
	b = binary.AppendUvarint(b, nonNeg(m.Load.Tracks))
	b = binary.AppendUvarint(b, nonNeg(m.Load.BandwidthKbps))
	b = binary.AppendUvarint(b, nonNeg(m.MaxParticipants))
	var flags byte
	if m.Draining {
		flags |= 1
	}
	if m.Leaving {
		flags |= 2
	}
	if m.WAN {
		flags |= 4
	}
	b = append(b, flags)
	if seq != 0 || m.WANAddr != "" || len(m.MediaAddrs) > 0 {
		b = binary.AppendUvarint(b, seq)
		str(m.WANAddr)
	}
	if len(m.MediaAddrs) > 0 {
		b = binary.AppendUvarint(b, uint64(len(m.MediaAddrs)))
		for _, a := range m.MediaAddrs {
			ab, _ := a.MarshalBinary() // never fails
			b = binary.AppendUvarint(b, uint64(len(ab)))
			b = append(b, ab...)
		}
	}
	if len(b) > MetaLimit {
		return nil, fmt.Errorf("%w: %d bytes (%s)", ErrMetaTooLarge, len(b), metaSizes(m))
	}
	return b, nil
}

// metaSizes names the variable parts of m by size, largest first: what an
// operator whose metadata does not fit can shorten.
func metaSizes(m Meta) string {
	type part struct {
		name string
		n    int
	}
	turn := 0
	for _, u := range m.TURNURLs {
		turn += len(u) + 1
	}
	media := 0
	for _, a := range m.MediaAddrs {
		ab, _ := a.MarshalBinary()
		media += len(ab) + 1
	}
	parts := []part{
		{"node id", len(m.NodeID)}, {"region", len(m.Region)}, {"signalling URL", len(m.SignalURL)},
		{fmt.Sprintf("%d TURN URLs", len(m.TURNURLs)), turn}, {"relay address", len(m.RelayAddr)},
		{"probe URL", len(m.ProbeURL)}, {"version", len(m.Version)}, {"WAN address", len(m.WANAddr)},
		{fmt.Sprintf("%d media addresses", len(m.MediaAddrs)), media},
	}
	slices.SortStableFunc(parts, func(a, b part) int { return b.n - a.n })
	var out []string
	for _, p := range parts {
		if p.n > 0 {
			out = append(out, fmt.Sprintf("%s %d B", p.name, p.n))
		}
	}
	return strings.Join(out, ", ")
}

func nonNeg(v int) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// decodeMeta parses metadata from the network (untrusted beyond the
// keyring; fuzzed).
func decodeMeta(b []byte) (Meta, error) {
	m, _, err := decodeMetaSeq(b)
	return m, err
}

// decodeMetaSeq is decodeMeta that also returns the sequence number (0
// when the trailer is absent).
func decodeMetaSeq(b []byte) (Meta, uint64, error) {
	d := metaDecoder{b: b}
	if v := d.byte(); v != metaVersion {
		return Meta{}, 0, fmt.Errorf("%w: version %d", errMeta, v)
	}
	var m Meta
	m.NodeID = d.str()
	m.Role = d.str()
	m.Region = d.str()
	m.SignalURL = d.str()
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return Meta{}, 0, fmt.Errorf("%w: %d TURN URLs", errMeta, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		m.TURNURLs = append(m.TURNURLs, d.str())
	}
	m.RelayAddr = d.str()
	m.ProbeURL = d.str()
	m.Version = d.str()
	m.Load.CPU = float64(d.uvarint()) / 10
	m.Load.Participants = d.int()
	m.Load.Tracks = d.int()
	m.Load.BandwidthKbps = d.int()
	m.MaxParticipants = d.int()
	flags := d.byte()
	m.Draining = flags&1 != 0
	m.Leaving = flags&2 != 0
	m.WAN = flags&4 != 0
	var seq uint64
	if d.err == nil && len(d.b) > 0 {
		seq = d.uvarint()
		m.WANAddr = d.str()
	}
	if d.err == nil && len(d.b) > 0 {
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			return Meta{}, 0, fmt.Errorf("%w: %d media addresses", errMeta, n)
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			var a netip.AddrPort
			if err := a.UnmarshalBinary([]byte(d.str())); err != nil || !validMediaAddr(a) {
				return Meta{}, 0, fmt.Errorf("%w: media address %d", errMeta, i)
			}
			m.MediaAddrs = append(m.MediaAddrs, a)
		}
	}
	if d.err != nil {
		return Meta{}, 0, d.err
	}
	return m, seq, nil
}

// validMediaAddr reports whether a can be a media address: an IP address
// without zone, and a port.
func validMediaAddr(a netip.AddrPort) bool {
	return a.Addr().IsValid() && a.Addr().Zone() == "" && !a.Addr().IsUnspecified() && a.Port() != 0
}

type metaDecoder struct {
	b   []byte
	err error
}

func (d *metaDecoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated", errMeta)
	}
	d.b = nil
}

func (d *metaDecoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *metaDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *metaDecoder) int() int {
	v := d.uvarint()
	if v > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *metaDecoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
