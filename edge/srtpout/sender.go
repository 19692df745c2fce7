package srtpout

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/mmsg"
)

// ErrNoRoute is returned by WriteRTP while the sender cannot send itself:
// before the handshake, without a selected pair, or on a pair that is not
// the UDP mux's. The caller then writes through pion.
var ErrNoRoute = errors.New("srtpout: no direct route")

// Socket is what a Sender writes to: the socket under the ICE UDP mux (an
// edge/mmsg Conn), so that packets leave from the address the client's ICE
// checked.
type Socket interface {
	WriteTo(p []byte, addr net.Addr) (int, error)
}

// Sender sends one peer connection's RTP. Connected and SetPair may come
// from any goroutine; WriteRTP has one caller at a time (the subscriber's
// drain), as it owns the SRTP context's rollover state and the buffer.
type Sender struct {
	keys Keys
	sock Socket

	mu   sync.Mutex
	ctx  *srtp.Context
	addr *net.UDPAddr

	route atomic.Pointer[route]
	used  atomic.Bool

	buf []byte // WriteRTP's output buffer
}

type route struct {
	ctx  *srtp.Context
	addr *net.UDPAddr
	ap   netip.AddrPort // addr, for batches
}

// NewSender makes a sender that writes to sock once its keys and route are
// known.
func NewSender(sock Socket) *Sender {
	return &Sender{sock: sock, buf: make([]byte, 0, 1500)}
}

// Keys is what the peer connection's SettingEngine must report to
// (Keys.Configure).
func (s *Sender) Keys() *Keys { return &s.keys }

// Connected derives the SRTP context once the DTLS handshake is done.
func (s *Sender) Connected() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx != nil {
		return nil
	}
	ctx, err := s.keys.Context()
	if err != nil {
		return err
	}
	s.ctx = ctx
	s.publish()
	return nil
}

// SetPair routes to the ICE pair pion selected: its remote address when
// the local candidate is UDP (the mux), none otherwise.
func (s *Sender) SetPair(pair *webrtc.ICECandidatePair) error {
	var addr *net.UDPAddr
	var err error
	if pair != nil && pair.Local != nil && pair.Remote != nil && pair.Local.Protocol == webrtc.ICEProtocolUDP {
		ip, perr := netip.ParseAddr(pair.Remote.Address)
		if perr == nil {
			addr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), pair.Remote.Port))
		} else {
			err = fmt.Errorf("srtpout: remote candidate address %q: %w", pair.Remote.Address, perr)
		}
	}
	s.mu.Lock()
	s.addr = addr
	s.publish()
	s.mu.Unlock()
	return err
}

// publish makes the current context and address WriteRTP's route (mu held).
func (s *Sender) publish() {
	if s.ctx == nil || s.addr == nil {
		s.route.Store(nil)
		return
	}
	s.route.Store(&route{ctx: s.ctx, addr: s.addr, ap: s.addr.AddrPort()})
}

// Ready reports whether WriteRTP sends.
func (s *Sender) Ready() bool { return s.route.Load() != nil }

// Used reports whether WriteRTP ever sent: pion's own SRTP state has then
// not seen every packet, so after a rollover of the sequence numbers
// (65,536 packets on one stream) it would encrypt with the wrong index.
func (s *Sender) Used() bool { return s.used.Load() }

// WriteRTP encrypts pkt, a whole RTP packet, and sends it on the selected
// pair; hdr receives pkt's header (the encryption parses it). It goes into
// out's next slot when out is not nil (out's owner sends it), else on the
// socket at once. It returns ErrNoRoute when it cannot.
func (s *Sender) WriteRTP(pkt []byte, hdr *rtp.Header, out *mmsg.Batch) error {
	r := s.route.Load()
	if r == nil {
		return ErrNoRoute
	}
	if !s.used.Load() {
		s.used.Store(true)
	}
	if out != nil && len(pkt)+maxOverhead <= mmsg.SlotSize {
		slot := out.Next(r.ap)
		enc, err := r.ctx.EncryptRTP(slot[:0], pkt, hdr)
		if err != nil {
			return fmt.Errorf("srtpout: encrypt: %w", err)
		}
		out.Commit(len(enc))
		return nil
	}
	enc, err := r.ctx.EncryptRTP(s.buf[:0], pkt, hdr)
	if err != nil {
		return fmt.Errorf("srtpout: encrypt: %w", err)
	}
	if cap(enc) > cap(s.buf) {
		s.buf = enc[:0]
	}
	if _, err := s.sock.WriteTo(enc, r.addr); err != nil {
		return fmt.Errorf("srtpout: send: %w", err)
	}
	return nil
}

// maxOverhead is the most SRTP adds to an RTP packet (a 16-byte AEAD tag,
// or the 10-byte HMAC tag; no MKI).
const maxOverhead = 16
