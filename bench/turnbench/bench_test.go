package turnbench

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/turn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunAgainstOurServer drives an in-process server through two short
// steps and checks that the traffic was delivered and measured.
func TestRunAgainstOurServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const secret = "0123456789abcdef-bench"
	cfg := turn.Config{Listen: "127.0.0.1:0", TLSListen: turn.TLSOff, UDPSockets: 2, RelayBind: "127.0.0.1",
		Allow: []string{"127.0.0.0/8"}}.WithDefaults()
	socks, err := turn.Listen(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := turn.New(cfg, []string{secret}, socks)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		_ = srv.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	user, pass := turn.Credential(secret, "bench", time.Now().Add(time.Hour))
	res, err := Run(ctx, Config{
		Server: socks.UDP[0].LocalAddr().String(), Username: user, Password: pass, ServerPID: os.Getpid(),
		Allocations: 10, Payload: 100, Rates: []int{1000, 2000}, Step: 300 * time.Millisecond,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 || res.SaturationPPS < 1000 {
		t.Fatalf("result %+v", res)
	}
	for _, st := range res.Steps {
		if st.LossPercent > 5 || st.ServerCPUMicros <= 0 {
			t.Fatalf("step %+v", st)
		}
	}
	s := srv.Stats()
	if s.ToPeerPackets == 0 || s.ToClientPackets == 0 || s.Allocations != 10 {
		t.Fatalf("server stats %+v", s)
	}
}

func TestRunRefusedCredential(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := turn.Config{Listen: "127.0.0.1:0", TLSListen: turn.TLSOff, UDPSockets: 1, RelayBind: "127.0.0.1"}.WithDefaults()
	socks, err := turn.Listen(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := turn.New(cfg, []string{"0123456789abcdef-bench"}, socks)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { _ = srv.Close(); <-done }()
	user, pass := turn.Credential("another-secret-entirely", "x", time.Now().Add(time.Hour))
	_, err = Run(ctx, Config{Server: socks.UDP[0].LocalAddr().String(), Username: user, Password: pass,
		Allocations: 1, Payload: 100, Rates: []int{100}, Step: 100 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("Run with a forged credential succeeded")
	}
}

func TestCPUTime(t *testing.T) {
	d, err := cpuTime(os.Getpid())
	if err != nil || d < 0 {
		t.Fatalf("cpuTime = %v, %v", d, err)
	}
	if d, err := cpuTime(0); d != 0 || err != nil {
		t.Fatalf("cpuTime(0) = %v, %v", d, err)
	}
}
