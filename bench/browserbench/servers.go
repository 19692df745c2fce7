package browserbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrServer marks a server the bench started that did not come up.
var ErrServer = errors.New("browserbench: server did not start")

// serverReadyTimeout bounds a started server's way to its first answer.
const serverReadyTimeout = 20 * time.Second

// StartOurs starts our edge as a child process, `exe edge --config F`
// (exe is this binary), on the bridge's gateway: signalling, metrics
// (read once a second during the run) and the one ICE UDP port there, candidates gathered on the bridge only, TURN and
// gossip off, and short room timeouts so it stops at once. Its secrets
// (a fresh API key, a TURN secret the config needs even unused) go
// through the environment, never a file or a flag. Its log goes to
// logDir/ours-<n>.log (logDir empty: a temporary folder, removed), at log
// level level (empty: info).
func StartOurs(exe, logDir, level string) StartFunc {
	if level == "" {
		level = "info"
	}
	return func(ctx context.Context, at Bridge) (*Server, error) {
		sig, err := freeTCP(at.Gateway)
		if err != nil {
			return nil, err
		}
		udp, err := freeUDP(at.Gateway)
		if err != nil {
			return nil, err
		}
		met, err := freeTCP(at.Gateway)
		if err != nil {
			return nil, err
		}
		key, secret := "SCbench"+randomHex(4), randomHex(32)
		url := "ws://" + netip.AddrPortFrom(at.Gateway, sig).String()
		cfg := fmt.Sprintf(`log:
  level: %s
metrics:
  listen: %q
edge:
  listen: %q
  publicURL: %q
  nodeID: browserbench
  rtc:
    udpPort: %d
    bindIP: %q
    interfaces: [%q]
  room:
    emptyTimeout: 10s
    departureTimeout: 2s
  drainTimeout: 3s
turn:
  enabled: false
`, level, netip.AddrPortFrom(at.Gateway, met), netip.AddrPortFrom(at.Gateway, sig), url, udp, at.Gateway, at.Interface)
		env := []string{
			"SPACECAST_API_KEYS=" + key + ":" + secret,
			"SPACECAST_SIGNING_KEY=" + key,
			"SPACECAST_TURN_SECRETS=" + randomHex(24),
		}
		srv, err := startChild(ctx, "ours", exe, []string{"edge", "--config"}, cfg, "edge.yaml", env, logDir,
			Target{URL: url, APIKey: key, APISecret: secret}, netip.AddrPortFrom(at.Gateway, sig))
		if err != nil {
			return nil, err
		}
		srv.MetricsURL = "http://" + netip.AddrPortFrom(at.Gateway, met).String() + "/metrics"
		return srv, nil
	}
}

// StartLiveKit starts livekit-server (bin) as a child process on the
// bridge's gateway: HTTP/WebSocket, one UDP port (ICE UDP mux) and an
// ICE-TCP port there, node_ip the gateway, no external IP discovery,
// candidates on the bridge only, rooms created on join. Its API key
// comes through LIVEKIT_KEYS, its log goes to logDir/livekit-<n>.log.
func StartLiveKit(bin, logDir string) StartFunc {
	return func(ctx context.Context, at Bridge) (*Server, error) {
		sig, err := freeTCP(at.Gateway)
		if err != nil {
			return nil, err
		}
		udp, err := freeUDP(at.Gateway)
		if err != nil {
			return nil, err
		}
		tcp, err := freeTCP(at.Gateway)
		if err != nil {
			return nil, err
		}
		key, secret := "LKbench"+randomHex(4), randomHex(32)
		cfg := fmt.Sprintf(`port: %d
bind_addresses: [%q]
rtc:
  udp_port: %d
  tcp_port: %d
  use_external_ip: false
  node_ip: %q
  enable_loopback_candidate: false
  interfaces:
    includes: [%q]
room:
  auto_create: true
  empty_timeout: 10
  departure_timeout: 2
turn:
  enabled: false
logging:
  level: info
`, sig, at.Gateway, udp, tcp, at.Gateway, at.Interface)
		env := []string{"LIVEKIT_KEYS=" + key + ": " + secret}
		return startChild(ctx, "livekit", bin, []string{"--config"}, cfg, "livekit.yaml", env, logDir,
			Target{URL: "ws://" + netip.AddrPortFrom(at.Gateway, sig).String(), APIKey: key, APISecret: secret},
			netip.AddrPortFrom(at.Gateway, sig))
	}
}

// startChild writes cfg to a temporary folder, runs bin with args and the
// config's path, in a process group of its own, its output in a log
// file, and waits until its signalling port answers HTTP.
func startChild(ctx context.Context, label, bin string, args []string, cfg, cfgName string, env []string,
	logDir string, t Target, sig netip.AddrPort) (*Server, error) {
	dir, err := os.MkdirTemp("", "browserbench-"+label+"-")
	if err != nil {
		return nil, fmt.Errorf("browserbench: %w", err)
	}
	path := filepath.Join(dir, cfgName)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("browserbench: %w", err)
	}
	logPath := filepath.Join(dir, label+".log")
	if logDir != "" {
		logPath = nextFree(filepath.Join(logDir, label))
	}
	logf, err := os.Create(logPath)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("browserbench: server log: %w", err)
	}
	// Not CommandContext: the server is stopped by Stop, gently first.
	cmd := exec.Command(bin, append(args, path)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %s: %w", ErrServer, label, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		defer os.RemoveAll(dir)
		defer logf.Close()
		// First signal: drain (nobody is left); second: exit now; then kill.
		_ = cmd.Process.Signal(os.Interrupt)
		for i, wait := range []time.Duration{3 * time.Second, 3 * time.Second, 5 * time.Second} {
			select {
			case <-exited:
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // any helper left in its group
				return nil
			case <-time.After(wait):
			}
			if i == 0 {
				_ = cmd.Process.Signal(os.Interrupt)
			} else {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		}
		<-exited
		return fmt.Errorf("browserbench: %s did not stop on SIGINT; killed", label)
	}
	if err := waitHTTP(ctx, sig, exited); err != nil {
		tail := tailFile(logPath)
		_ = stop()
		return nil, fmt.Errorf("%w: %s: %w; its log: %s", ErrServer, label, err, tail)
	}
	return &Server{Target: t, PID: cmd.Process.Pid, Stop: stop}, nil
}

// waitHTTP polls the signalling port until it answers HTTP (any status),
// the process exits, or the timeout passes.
func waitHTTP(ctx context.Context, at netip.AddrPort, exited chan error) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(serverReadyTimeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+at.String()+"/", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			return nil
		}
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // polling for readiness
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s within %s", at, serverReadyTimeout)
		}
	}
}

// tailFile is the end of a log, for an error message.
func tailFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.ReplaceAll(string(b), "\n", " | ")
}

// nextFree is base-1.log, base-2.log, ...: the first that does not exist.
func nextFree(base string) string {
	for i := 1; ; i++ {
		p := base + "-" + strconv.Itoa(i) + ".log"
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return p
		}
	}
}

// freeTCP and freeUDP find a free port on addr (closed again: the server
// binds it a moment later).
func freeTCP(addr netip.Addr) (uint16, error) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		return 0, fmt.Errorf("browserbench: free tcp port: %w", err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port), nil
}

func freeUDP(addr netip.Addr) (uint16, error) {
	pc, err := net.ListenPacket("udp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		return 0, fmt.Errorf("browserbench: free udp port: %w", err)
	}
	defer pc.Close()
	return uint16(pc.LocalAddr().(*net.UDPAddr).Port), nil
}
