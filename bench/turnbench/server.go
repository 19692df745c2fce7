package turnbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pion/stun/v4"
)

// Process is a TURN server the bench started and measures.
type Process struct {
	Addr string // UDP host:port
	PID  int
	cmd  *exec.Cmd
	dir  string
}

// SpawnOurs starts `<exe> turn` (this binary) on 127.0.0.1 with secret,
// loopback peers allowed, no TLS.
func SpawnOurs(ctx context.Context, exe, secret string, sockets int, stderr io.Writer) (*Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "turnbench-")
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`turn:
  listen: "127.0.0.1:%d"
  tlsListen: "off"
  relayBind: 127.0.0.1
  userQuota: 100000
  allow: ["127.0.0.0/8"]
`, port)
	if sockets > 0 {
		cfg += fmt.Sprintf("  udpSockets: %d\n", sockets)
	}
	path := filepath.Join(dir, "turn.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "turn", "--config", path)
	cmd.Env = append(os.Environ(), "SPACECAST_TURN_SECRETS="+secret)
	cmd.Stderr = stderr
	return start(cmd, dir, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

// SpawnCoturn starts coturn's turnserver on 127.0.0.1 with the same
// secret, loopback peers allowed, no TLS/DTLS, no CLI, no quotas.
func SpawnCoturn(ctx context.Context, turnserver, secret string, stderr io.Writer) (*Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "turnbench-")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, turnserver, "-n",
		"--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--listening-port="+strconv.Itoa(port),
		"--use-auth-secret", "--static-auth-secret="+secret, "--realm=spacecast",
		"--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers",
		"--user-quota=0", "--total-quota=0", "--min-port=49152", "--max-port=65535",
		"--pidfile="+filepath.Join(dir, "turnserver.pid"), "--log-file=stdout", "--no-stdout-log", "--simple-log")
	cmd.Stderr = stderr
	return start(cmd, dir, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

func start(cmd *exec.Cmd, dir, addr string) (*Process, error) {
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	p := &Process{Addr: addr, PID: cmd.Process.Pid, cmd: cmd, dir: dir}
	if err := waitReady(addr, 10*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Stop ends the process and removes its files.
func (p *Process) Stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	_ = os.RemoveAll(p.dir)
}

// waitReady sends STUN Binding requests until the server answers.
func waitReady(addr string, within time.Duration) error {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(within)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) {
		m := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		_, _ = c.Write(m.Raw)
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(buf); err == nil {
			return nil
		}
	}
	return errors.New("turnbench: server at " + addr + " did not answer")
}

func freePort() (int, error) {
	// The UDP port must also be free for TCP (TURN listens on both).
	for range 20 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, err
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		_ = c.Close()
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			_ = l.Close()
			return port, nil
		}
	}
	return 0, errors.New("turnbench: no free port")
}
