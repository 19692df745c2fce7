package srtpout

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/mmsg"
)

type sentPacket struct {
	b    []byte
	addr string
}

type fakeSocket struct{ sent []sentPacket }

func (f *fakeSocket) WriteTo(p []byte, addr net.Addr) (int, error) {
	f.sent = append(f.sent, sentPacket{append([]byte(nil), p...), addr.String()})
	return len(p), nil
}

func pair(proto webrtc.ICEProtocol, addr string, port uint16) *webrtc.ICECandidatePair {
	return &webrtc.ICECandidatePair{
		Local:  &webrtc.ICECandidate{Protocol: proto, Address: "127.0.0.1", Port: 7882},
		Remote: &webrtc.ICECandidate{Protocol: proto, Address: addr, Port: port},
	}
}

// connectedSender is a Sender whose keys come from a real handshake, and
// the client's decrypting context.
func connectedSender(t *testing.T, sock Socket) (*Sender, *srtp.Context) {
	t.Helper()
	s := NewSender(sock)
	_, client := runHandshake(t, s.Keys(), dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.SRTP_AEAD_AES_128_GCM, dtls.RequestExtendedMasterSecret)
	if err := s.Connected(); err != nil {
		t.Fatal(err)
	}
	return s, clientDecrypter(t, &client, srtp.ProtectionProfileAeadAes128Gcm)
}

func rtpPacket(t *testing.T, seq uint16) ([]byte, *rtp.Header) {
	t.Helper()
	p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 90, SSRC: 0xabc}, Payload: bytes.Repeat([]byte{byte(seq)}, 200)}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b, &rtp.Header{}
}

// A Sender sends only with both keys and a UDP pair; it follows pair
// changes, refuses ICE-TCP and unparseable addresses, and what it sends
// decrypts with the client's keys.
func TestSenderRoutes(t *testing.T) {
	sock := &fakeSocket{}
	s := NewSender(sock)
	pkt, h := rtpPacket(t, 1)
	if err := s.SetPair(pair(webrtc.ICEProtocolUDP, "127.0.0.2", 5000)); err != nil {
		t.Fatal(err)
	}
	if s.Ready() || !errors.Is(s.WriteRTP(pkt, h, nil), ErrNoRoute) {
		t.Fatal("ready before the handshake")
	}
	if err := s.Connected(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Connected without a handshake: %v", err)
	}

	s, dec := connectedSender(t, sock)
	if s.Ready() {
		t.Fatal("ready without a pair")
	}
	if err := s.SetPair(pair(webrtc.ICEProtocolUDP, "127.0.0.2", 5000)); err != nil {
		t.Fatal(err)
	}
	if !s.Ready() || s.Used() {
		t.Fatalf("ready %v used %v, want ready and unused", s.Ready(), s.Used())
	}
	for seq := uint16(1); seq <= 3; seq++ {
		pkt, h := rtpPacket(t, seq)
		if err := s.WriteRTP(pkt, h, nil); err != nil {
			t.Fatal(err)
		}
		if h.SequenceNumber != seq || h.SSRC != 0xabc {
			t.Fatalf("hdr after WriteRTP: %+v, want the packet's header", h)
		}
		got := sock.sent[len(sock.sent)-1]
		if got.addr != "127.0.0.2:5000" {
			t.Fatalf("sent to %s", got.addr)
		}
		plain, err := dec.DecryptRTP(nil, got.b, nil)
		if err != nil || !bytes.Equal(plain, pkt) {
			t.Fatalf("packet %d does not decrypt: %v", seq, err)
		}
	}
	if !s.Used() {
		t.Fatal("not used after sending")
	}
	// An ICE restart onto another UDP pair: sent there.
	_ = s.SetPair(pair(webrtc.ICEProtocolUDP, "::ffff:127.0.0.3", 6000))
	pkt, h = rtpPacket(t, 4)
	if err := s.WriteRTP(pkt, h, nil); err != nil || sock.sent[len(sock.sent)-1].addr != "127.0.0.3:6000" {
		t.Fatalf("after the pair change: %v, sent to %s", err, sock.sent[len(sock.sent)-1].addr)
	}
	// ICE-TCP: pion's job.
	_ = s.SetPair(pair(webrtc.ICEProtocolTCP, "127.0.0.3", 6000))
	if s.Ready() || !errors.Is(s.WriteRTP(pkt, h, nil), ErrNoRoute) {
		t.Fatal("ready on an ICE-TCP pair")
	}
	if err := s.SetPair(pair(webrtc.ICEProtocolUDP, "peer.local", 6000)); err == nil || s.Ready() {
		t.Fatalf("a name as the remote address: err %v, ready %v", err, s.Ready())
	}
}

// Into a batch, the packet is encrypted in the batch's slot and leaves
// with the batch's Send.
func TestSenderWritesIntoBatch(t *testing.T) {
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	conn := mmsg.New(udp)
	defer conn.Close()
	s, dec := connectedSender(t, conn)
	ra := recv.LocalAddr().(*net.UDPAddr)
	_ = s.SetPair(pair(webrtc.ICEProtocolUDP, "127.0.0.1", uint16(ra.Port)))
	b := conn.NewBatch()
	var want [][]byte
	for seq := uint16(10); seq < 13; seq++ {
		pkt, h := rtpPacket(t, seq)
		want = append(want, pkt)
		if err := s.WriteRTP(pkt, h, b); err != nil {
			t.Fatal(err)
		}
	}
	if b.Len() != 3 || conn.Stats().Packets != 0 {
		t.Fatalf("batch holds %d, socket sent %d: want 3 held, none sent", b.Len(), conn.Stats().Packets)
	}
	b.Send()
	buf := make([]byte, 1500)
	for i, w := range want {
		_ = recv.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := recv.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := dec.DecryptRTP(nil, buf[:n], nil)
		if err != nil || !bytes.Equal(plain, w) {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
}
