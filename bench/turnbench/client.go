package turnbench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pion/stun/v4"
)

// ErrTURN marks a failed TURN exchange.
var ErrTURN = errors.New("turnbench: turn")

// allocation is one client socket with its relayed address and a peer
// socket bound to a channel of it.
type allocation struct {
	client *net.UDPConn // connected to the server
	peer   *net.UDPConn // connected to the relayed address
	relay  netip.AddrPort
	ch     uint16
	turn   *turnClient // set once allocated
}

// close releases the allocation on the server (a Refresh with lifetime 0,
// RFC 8656 §7.3, sent once without waiting for the answer: the bench must
// not leave hundreds of allocations counting against a server's quotas
// until they expire) and closes the sockets.
func (a *allocation) close() {
	if c := a.turn; c != nil && c.nonce != "" {
		if m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassRequest), lifetime(0),
			stun.NewUsername(c.user), stun.NewRealm(c.realm), stun.NewNonce(c.nonce),
			stun.NewLongTermIntegrity(c.user, c.realm, c.pass), stun.Fingerprint); err == nil {
			_, _ = a.client.Write(m.Raw)
		}
	}
	_ = a.client.Close()
	if a.peer != nil {
		_ = a.peer.Close()
	}
}

// turnClient runs the control exchanges of RFC 8656 on one socket.
type turnClient struct {
	conn                     *net.UDPConn
	user, pass, realm, nonce string
	buf                      []byte
}

func (c *turnClient) request(method stun.Method, attrs ...stun.Setter) (*stun.Message, error) {
	for range 3 {
		setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
		setters = append(setters, attrs...)
		if c.nonce != "" {
			setters = append(setters, stun.NewUsername(c.user), stun.NewRealm(c.realm), stun.NewNonce(c.nonce),
				stun.NewLongTermIntegrity(c.user, c.realm, c.pass))
		}
		setters = append(setters, stun.Fingerprint)
		req, err := stun.Build(setters...)
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(req)
		if err != nil {
			return nil, err
		}
		if resp.Type.Class == stun.ClassSuccessResponse {
			return resp, nil
		}
		var ec stun.ErrorCodeAttribute
		_ = ec.GetFrom(resp)
		if (ec.Code == stun.CodeUnauthorized && c.nonce == "") || ec.Code == stun.CodeStaleNonce {
			var n stun.Nonce
			var r stun.Realm
			_ = n.GetFrom(resp)
			_ = r.GetFrom(resp)
			c.nonce, c.realm = n.String(), r.String()
			continue
		}
		return nil, fmt.Errorf("%w: %v: error %d %s", ErrTURN, method, ec.Code, ec.Reason)
	}
	return nil, fmt.Errorf("%w: %v: authentication failed", ErrTURN, method)
}

func (c *turnClient) roundTrip(req *stun.Message) (*stun.Message, error) {
	for try := range 4 {
		if _, err := c.conn.Write(req.Raw); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(time.Duration(250<<try) * time.Millisecond)
		for {
			_ = c.conn.SetReadDeadline(deadline)
			n, err := c.conn.Read(c.buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return nil, err
			}
			m := &stun.Message{Raw: append([]byte(nil), c.buf[:n]...)}
			if m.Decode() == nil && m.TransactionID == req.TransactionID {
				_ = c.conn.SetReadDeadline(time.Time{})
				return m, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: no answer from %v", ErrTURN, c.conn.RemoteAddr())
}

// open allocates a relayed address and binds channel ch to a fresh peer
// socket on peerIP.
func open(server *net.UDPAddr, user, pass string, peerIP netip.Addr, ch uint16) (*allocation, error) {
	conn, err := net.DialUDP("udp", nil, server)
	if err != nil {
		return nil, err
	}
	a := &allocation{client: conn, ch: ch}
	c := &turnClient{conn: conn, user: user, pass: pass, buf: make([]byte, 1500)}
	resp, err := c.request(stun.MethodAllocate, requestedUDP{})
	if err != nil {
		a.close()
		return nil, err
	}
	a.turn = c
	var ra stun.XORMappedAddress
	if err := ra.GetFromAs(resp, stun.AttrXORRelayedAddress); err != nil {
		a.close()
		return nil, fmt.Errorf("%w: no relayed address: %w", ErrTURN, err)
	}
	ip, _ := netip.AddrFromSlice(ra.IP)
	a.relay = netip.AddrPortFrom(ip.Unmap(), uint16(ra.Port)) //nolint:gosec
	relayAddr := a.relay
	if relayAddr.Addr().IsUnspecified() {
		// A server relaying on all its addresses: reach the relay where
		// the server itself is reached.
		sa := server.AddrPort().Addr().Unmap()
		relayAddr = netip.AddrPortFrom(sa, relayAddr.Port())
	}
	peer, err := net.DialUDP("udp", &net.UDPAddr{IP: peerIP.AsSlice()}, net.UDPAddrFromAddrPort(relayAddr))
	if err != nil {
		a.close()
		return nil, err
	}
	a.peer = peer
	pa := peer.LocalAddr().(*net.UDPAddr)
	if _, err := c.request(stun.MethodChannelBind, channelNumber(ch),
		xorPeer{&stun.XORMappedAddress{IP: pa.IP, Port: pa.Port}}); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// lifetime is the LIFETIME attribute in seconds.
type lifetime uint32

func (l lifetime) AddTo(m *stun.Message) error {
	m.Add(stun.AttrLifetime, []byte{byte(l >> 24), byte(l >> 16), byte(l >> 8), byte(l)})
	return nil
}

type requestedUDP struct{}

func (requestedUDP) AddTo(m *stun.Message) error {
	m.Add(stun.AttrRequestedTransport, []byte{17, 0, 0, 0})
	return nil
}

type xorPeer struct{ a *stun.XORMappedAddress }

func (x xorPeer) AddTo(m *stun.Message) error { return x.a.AddToAs(m, stun.AttrXORPeerAddress) }

type channelNumber uint16

func (c channelNumber) AddTo(m *stun.Message) error {
	m.Add(stun.AttrChannelNumber, []byte{byte(c >> 8), byte(c), 0, 0})
	return nil
}
