package netns

import (
	"context"
	"fmt"
	"net"
)

// ListenTCP opens a TCP listener on addr inside the host's namespace, for
// the calling process to accept on: the socket stays in the namespace it
// was made in, whichever thread later uses it.
func (h *Host) ListenTCP(addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.inNamespace(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns: listen tcp %s in %s: %w", addr, h.Name, err)
	}
	return ln, nil
}

// ListenPacket opens a UDP socket on addr inside the host's namespace.
func (h *Host) ListenPacket(addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := h.inNamespace(func() (err error) {
		pc, err = net.ListenPacket("udp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns: listen udp %s in %s: %w", addr, h.Name, err)
	}
	return pc, nil
}

// ListenPacketConfig opens a UDP socket on addr inside the host's
// namespace through lc, whose Control can set socket options before the
// bind (IP_TRANSPARENT, say).
func (h *Host) ListenPacketConfig(lc *net.ListenConfig, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := h.inNamespace(func() (err error) {
		pc, err = lc.ListenPacket(context.Background(), "udp4", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns: listen udp %s in %s: %w", addr, h.Name, err)
	}
	return pc, nil
}
