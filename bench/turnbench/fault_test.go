package turnbench

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// lossyProxy stands between TURN clients and the server: it forwards
// everything, except every nth ChannelData message from the server to a
// client, which it drops (a faulty network or server on the way back).
type lossyProxy struct {
	ln     *net.UDPConn
	server *net.UDPAddr
	nth    int

	mu       sync.Mutex
	upstream map[string]*net.UDPConn
	seen     int
	wg       sync.WaitGroup
}

func startLossyProxy(t *testing.T, server string, nth int) string {
	t.Helper()
	sa, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{ln: ln, server: sa, nth: nth, upstream: map[string]*net.UDPConn{}}
	p.wg.Add(1)
	go p.fromClients()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, u := range p.upstream {
			_ = u.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return ln.LocalAddr().String()
}

func (p *lossyProxy) fromClients() {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, client, err := p.ln.ReadFromUDP(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		up, ok := p.upstream[client.String()]
		if !ok {
			if up, err = net.DialUDP("udp", nil, p.server); err != nil {
				p.mu.Unlock()
				return
			}
			p.upstream[client.String()] = up
			p.wg.Add(1)
			go p.toClient(up, client)
		}
		p.mu.Unlock()
		_, _ = up.Write(buf[:n])
	}
}

func (p *lossyProxy) toClient(up *net.UDPConn, client *net.UDPAddr) {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, err := up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP from a closed port and the like
		}
		if n > 0 && buf[0]&0xc0 == 0x40 { // ChannelData (RFC 8656 §12.4)
			p.mu.Lock()
			p.seen++
			drop := p.seen%p.nth == 0
			p.mu.Unlock()
			if drop {
				continue
			}
		}
		_, _ = p.ln.WriteToUDP(buf[:n], client)
	}
}

// TestLossShowsInTheResult: a path that drops every 5th packet relayed
// back to the clients (half the traffic) must show about 10% loss at every
// step, in the metrics and in the sweep the report draws.
func TestLossShowsInTheResult(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := startServer(t, ctx, testSecret, []string{"127.0.0.0/8"})
	proxy := startLossyProxy(t, addr, 5)
	cfg := DefaultConfig()
	cfg.Target, cfg.Secret = "turn:"+proxy, testSecret
	cfg.Allocations, cfg.Payload, cfg.Rates, cfg.Step = 6, 100, []int{1000, 2000}, 400*time.Millisecond
	r := runBench(t, ctx, cfg)
	for _, name := range []string{"loss", "loss_at_saturation"} {
		if v, _, _ := r.Lookup(name); v < 7 || v > 13 {
			t.Errorf("%s = %.2f%%, want about 10%%", name, v)
		}
	}
	for _, pt := range r.Sweeps[0].Points {
		if pt.LossPercent < 7 || pt.LossPercent > 13 || pt.AchievedPerSec > 0.95*pt.OfferedPerSec {
			t.Errorf("sweep point %+v does not show the loss", pt)
		}
	}
}
