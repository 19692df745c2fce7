package selfhost

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spacecast/spacecast/controlplane"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/store/postgres"
	"github.com/spacecast/spacecast/controlplane/store/sqlite"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// Options say how to run the control plane.
type Options struct {
	// DataDir holds the SQLite database (made if missing); unused with
	// Postgres.
	DataDir string
	// Postgres, when its DSN is set, is the store instead of SQLite: the
	// database of several replicas.
	Postgres postgres.Config
	// NoClient serves without making an API client (a further replica of
	// one whose client the bench already has).
	NoClient bool
	// Listen is the API address; default 127.0.0.1:0.
	Listen string
	// EdgeURL is the ws:// signalling URL joins answer with; without one a
	// placeholder is used (the api scenario never connects to it).
	EdgeURL string
	// Cluster are the shared secrets (LiveKit API keys for media tokens);
	// zero means freshly generated ones.
	Cluster clusterkey.Config
	// RateLimit keeps the token endpoint's default rate limits; off by
	// default so the token benchmark measures issuing, not refusing.
	RateLimit bool
	// DrainDelay is the control plane's (0: stop accepting at once).
	DrainDelay time.Duration
	Logger     *slog.Logger
}

// Info is what a client of the started control plane needs.
type Info struct {
	URL          string `json:"url"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	PID          int    `json:"pid"`
}

// Serve runs a control plane until ctx ends; ready is called once it
// accepts requests.
func Serve(ctx context.Context, o Options, ready func(Info)) error {
	if o.DataDir == "" && o.Postgres.DSN == "" {
		return errors.New("selfhost: DataDir or a Postgres DSN is required")
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Cluster.APIKeys == nil {
		c, err := clusterkey.Generate()
		if err != nil {
			return err
		}
		o.Cluster = c
	}
	var st store.Store
	var err error
	if o.Postgres.DSN != "" {
		st, err = postgres.Open(ctx, o.Postgres, o.Logger)
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(o.DataDir, "controlplane.db"), o.Logger)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	var id store.ClientID
	var secret string
	if !o.NoClient {
		if id, secret, err = controlplane.CreateClient(ctx, st, "bench", time.Now()); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("selfhost: %w", err)
	}
	url := "http://" + ln.Addr().String()
	cfg := controlplane.DefaultConfig()
	cfg.DrainDelay = o.DrainDelay
	cfg.Listen = ln.Addr().String()
	cfg.PublicURL = url
	cfg.DevEdge.URL = o.EdgeURL
	if cfg.DevEdge.URL == "" {
		cfg.DevEdge.URL = "ws://127.0.0.1:9"
	}
	if !o.RateLimit {
		cfg.RateLimit = cfg.RateLimit.Disabled()
	}
	srv, err := controlplane.New(cfg, controlplane.Deps{Store: st, Logger: o.Logger, Cluster: o.Cluster})
	if err != nil {
		_ = ln.Close()
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(runCtx, ln) }()
	if err := waitHealthy(ctx, url, errc); err != nil {
		cancel()
		<-errc
		return err
	}
	ready(Info{URL: url, ClientID: string(id), ClientSecret: secret, PID: os.Getpid()})
	return <-errc
}

func waitHealthy(ctx context.Context, url string, errc chan error) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			errc <- err
			return fmt.Errorf("selfhost: control plane stopped: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		c, err := net.DialTimeout("tcp", url[len("http://"):], time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness, not synchronising
	}
	return errors.New("selfhost: control plane did not start listening")
}

// PrintInfo writes info as the one JSON line Start waits for.
func PrintInfo(w io.Writer, info Info) error {
	return json.NewEncoder(w).Encode(info)
}

// Child is a control plane running in a child process.
type Child struct {
	Info
	cmd  *exec.Cmd
	done chan error
}

// Start runs cmd (a process that calls Serve and PrintInfo on stdout) and
// waits for its Info line.
func Start(ctx context.Context, cmd *exec.Cmd) (*Child, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("selfhost: %w", err)
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("selfhost: start %s: %w", cmd.Path, err)
	}
	c := &Child{cmd: cmd, done: make(chan error, 1)}
	lines := make(chan []byte, 1)
	go func() {
		br := bufio.NewReader(out)
		line, _ := br.ReadBytes('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, br)
		c.done <- cmd.Wait()
	}()
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	select {
	case line := <-lines:
		if err := json.Unmarshal(line, &c.Info); err != nil || c.URL == "" {
			_ = c.Stop()
			return nil, fmt.Errorf("selfhost: child printed %q, want its info as JSON", line)
		}
		c.PID = cmd.Process.Pid
		return c, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	_ = c.Stop()
	return nil, errors.New("selfhost: child did not start in time")
}

// Stop interrupts the child and waits for it (killing it after 10 s).
func (c *Child) Stop() error {
	if c.cmd.Process == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case err := <-c.done:
		c.done <- err
		return nil
	case <-t.C:
		_ = c.cmd.Process.Kill()
		err := <-c.done
		c.done <- err
		return nil
	}
}
