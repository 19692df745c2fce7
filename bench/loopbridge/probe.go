package loopbridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrRefused means nothing listens on a port the bridge is to forward.
var ErrRefused = errors.New("loopbridge: nothing listens")

// Probe checks, in this process's namespace, that something listens on
// every port of cfg: a TCP connection is made and closed; a one-byte UDP
// datagram is sent from a connected socket, and an ICMP port-unreachable
// (which loopback answers at once) counts as refused. It returns one
// error per refused port, each wrapping ErrRefused.
func Probe(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	var errs []error
	for _, p := range cfg.Ports {
		addr := netip.AddrPortFrom(cfg.Addr, p.Port).String()
		var err error
		if p.Network == "tcp" {
			err = probeTCP(ctx, addr)
		} else {
			err = probeUDP(ctx, addr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%w on %s %s: %w", ErrRefused, p.Network, addr, err))
		}
	}
	return errors.Join(errs...)
}

func probeTCP(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

func probeUDP(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte{0}); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = c.Read(make([]byte, 1500))
	if errors.Is(err, syscall.ECONNREFUSED) {
		return err
	}
	return nil // an answer, or silence: something is there
}
