package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Wire errors.
var (
	// ErrMalformed marks a datagram or control message that does not parse.
	ErrMalformed = errors.New("relay: malformed message")
	// ErrConfig marks an unusable configuration.
	ErrConfig = errors.New("relay: invalid configuration")
)

// MaxLayers is the number of simulcast layers a relayed track carries at
// most (forward.MaxLayers).
const MaxLayers = 4

// Datagrams: kind (1 byte), the subscriber's channel (4 bytes, big endian),
// the layer (1 byte), then the RTP packet as the origin received it.
const (
	dgRTP      = 1
	dgHeader   = 6
	maxRTPSize = 1500
)

// putDatagram writes the datagram header of an RTP packet into b (at least
// dgHeader bytes).
func putDatagram(b []byte, ch uint32, layer uint8) {
	b[0] = dgRTP
	binary.BigEndian.PutUint32(b[1:5], ch)
	b[5] = layer
}

// parseDatagram reads a datagram: the channel, the layer and the RTP
// packet (which must at least hold an RTP fixed header).
func parseDatagram(b []byte) (ch uint32, layer uint8, pkt []byte, err error) {
	if len(b) < dgHeader+12 || b[0] != dgRTP || b[5] >= MaxLayers || b[dgHeader]>>6 != 2 {
		return 0, 0, nil, ErrMalformed
	}
	return binary.BigEndian.Uint32(b[1:5]), b[5], b[dgHeader:], nil
}

// Control message types. Every control message on the stream is its
// length (3 bytes, big endian, the type and fields that follow), then the
// type, then its fields (integers as uvarints unless said otherwise,
// strings and byte strings as a uvarint length and the bytes).
const (
	msgHello        = 1  // version, node
	msgSubscribe    = 2  // ch, layers, room, track
	msgUnsubscribe  = 3  // ch
	msgLayers       = 4  // ch, layers: the subscriber's demand
	msgKeyframe     = 5  // ch, layer: PLI/FIR upstream
	msgNACK         = 6  // ch, layer, seqs: Generic NACK upstream
	msgSenderReport = 7  // ch, layer, NTP, RTP: the publisher's, downstream
	msgLayerState   = 8  // ch, per layer: active, bitrate; downstream
	msgRefuse       = 9  // ch, reason: the origin does not serve it
	msgApp          = 10 // topic, payload: Send / OnMessage
	msgWant         = 11 // wants (1 byte, 0 or 1): the sender wants something of the link (LinkIdle)
)

// protocolVersion is the control protocol's version, sent in Hello.
const protocolVersion = 2

// Limits of control messages.
const (
	maxControl = 256 << 10 // one message
	maxName    = 1024      // a room, track, node or topic
	maxNACK    = 512       // sequence numbers in one NACK
)

// msg is one decoded control message (only the fields its type uses).
type msg struct {
	typ     byte
	version uint64
	node    string
	ch      uint32
	layers  uint8 // a mask: bit i is layer i
	layer   uint8
	room    string
	track   string
	seqs    []uint16
	ntp     uint64
	rtp     uint32
	state   LayerState
	reason  string
	topic   string
	payload []byte
	wants   bool
}

// LayerState is what the origin tells a subscribing edge about a relayed
// track's layers, so that it can choose among layers it does not pull:
// which of them the publisher sends, and at what rate.
type LayerState struct {
	Layers  int // number of layers described
	Active  [MaxLayers]bool
	Bitrate [MaxLayers]uint64 // bits/s
}

// appendMsg encodes m (its type decides the fields) after b.
func appendMsg(b []byte, m *msg) []byte {
	start := len(b)
	b = append(b, 0, 0, 0) // room for the length, fixed below
	b = append(b, m.typ)
	str := func(s string) { b = binary.AppendUvarint(b, uint64(len(s))); b = append(b, s...) }
	ch := func() { b = binary.AppendUvarint(b, uint64(m.ch)) }
	switch m.typ {
	case msgHello:
		b = binary.AppendUvarint(b, m.version)
		str(m.node)
	case msgSubscribe:
		ch()
		b = append(b, m.layers)
		str(m.room)
		str(m.track)
	case msgUnsubscribe:
		ch()
	case msgLayers:
		ch()
		b = append(b, m.layers)
	case msgKeyframe:
		ch()
		b = append(b, m.layer)
	case msgNACK:
		ch()
		b = append(b, m.layer)
		b = binary.AppendUvarint(b, uint64(len(m.seqs)))
		for _, s := range m.seqs {
			b = binary.BigEndian.AppendUint16(b, s)
		}
	case msgSenderReport:
		ch()
		b = append(b, m.layer)
		b = binary.BigEndian.AppendUint64(b, m.ntp)
		b = binary.BigEndian.AppendUint32(b, m.rtp)
	case msgLayerState:
		ch()
		n := min(max(m.state.Layers, 0), MaxLayers)
		b = append(b, byte(n))
		for i := range n {
			var a byte
			if m.state.Active[i] {
				a = 1
			}
			b = append(b, a)
			b = binary.AppendUvarint(b, m.state.Bitrate[i])
		}
	case msgRefuse:
		ch()
		str(m.reason)
	case msgApp:
		str(m.topic)
		b = binary.AppendUvarint(b, uint64(len(m.payload)))
		b = append(b, m.payload...)
	case msgWant:
		var w byte
		if m.wants {
			w = 1
		}
		b = append(b, w)
	}
	n := len(b) - start - 3
	b[start], b[start+1], b[start+2] = byte(n>>16), byte(n>>8), byte(n)
	return b
}

// decoder reads the fields of one message body.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrMalformed
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if n > uint64(limit) || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes(maxName)) }

func (d *decoder) u32() uint32 {
	if len(d.b) < 4 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) ch() uint32 {
	v := d.uvarint()
	if v > 1<<32-1 {
		d.fail()
	}
	return uint32(v)
}

func (d *decoder) layer() uint8 {
	v := d.byte()
	if v >= MaxLayers {
		d.fail()
	}
	return v
}

// decodeMsg decodes one message body (after the length). seqs is reused
// for a NACK's sequence numbers; strings and payloads are copies or
// subslices of body, which the caller must not reuse while m is in use.
func decodeMsg(body []byte, seqs []uint16) (msg, error) {
	d := decoder{b: body}
	m := msg{typ: d.byte()}
	switch m.typ {
	case msgHello:
		m.version = d.uvarint()
		m.node = d.str()
	case msgSubscribe:
		m.ch = d.ch()
		m.layers = d.byte()
		m.room = d.str()
		m.track = d.str()
	case msgUnsubscribe:
		m.ch = d.ch()
	case msgLayers:
		m.ch = d.ch()
		m.layers = d.byte()
	case msgKeyframe:
		m.ch = d.ch()
		m.layer = d.layer()
	case msgNACK:
		m.ch = d.ch()
		m.layer = d.layer()
		n := d.uvarint()
		if n > maxNACK || n*2 > uint64(len(d.b)) {
			d.fail()
			break
		}
		m.seqs = seqs[:0]
		for range n {
			m.seqs = append(m.seqs, binary.BigEndian.Uint16(d.b))
			d.b = d.b[2:]
		}
	case msgSenderReport:
		m.ch = d.ch()
		m.layer = d.layer()
		m.ntp = d.u64()
		m.rtp = d.u32()
	case msgLayerState:
		m.ch = d.ch()
		n := int(d.byte())
		if n > MaxLayers {
			d.fail()
			break
		}
		m.state.Layers = n
		for i := range n {
			switch d.byte() {
			case 0:
			case 1:
				m.state.Active[i] = true
			default:
				d.fail()
			}
			m.state.Bitrate[i] = d.uvarint()
		}
	case msgRefuse:
		m.ch = d.ch()
		m.reason = d.str()
	case msgApp:
		m.topic = d.str()
		m.payload = d.bytes(maxControl)
	case msgWant:
		switch d.byte() {
		case 0:
		case 1:
			m.wants = true
		default:
			d.fail()
		}
	default:
		return m, fmt.Errorf("%w: type %d", ErrMalformed, m.typ)
	}
	if d.err != nil {
		return m, fmt.Errorf("%w: type %d", d.err, m.typ)
	}
	if len(d.b) != 0 {
		return m, fmt.Errorf("%w: type %d: %d trailing bytes", ErrMalformed, m.typ, len(d.b))
	}
	return m, nil
}
