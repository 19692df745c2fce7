package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sync/errgroup"

	"github.com/spacecast/spacecast/controlplane"
	cpmetrics "github.com/spacecast/spacecast/controlplane/metrics"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/removal"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/store/sqlite"
	"github.com/spacecast/spacecast/controlplane/web"
	"github.com/spacecast/spacecast/controlplane/webhook"
	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/edge/recorder"
	"github.com/spacecast/spacecast/edge/reporter"
	"github.com/spacecast/spacecast/internal/blob"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/config"
	"github.com/spacecast/spacecast/internal/logging"
	"github.com/spacecast/spacecast/turn"
)

// Files that `spacecast dev` keeps in its data folder.
const (
	devClusterFile = "cluster.yaml"    // generated cluster secrets (mode 0600)
	devClientFile  = "dev-client.json" // the API client made on first start (mode 0600)
	devURLKeyFile  = "storage-url.key" // signs the recordings' download links (mode 0600)
	devRecordings  = "recordings"      // the stored recordings
	devRecording   = "recording"       // recordings while they are made
)

// devFlags are the command line of `spacecast dev`.
type devFlags struct {
	data       string
	listen     string // control plane (API and pages)
	edgeListen string // edge signalling
	rtcPort    int    // edge ICE UDP port
	turnListen string // TURN UDP+TCP
	turnTLS    string // TURN over TLS, or "off"
	logLevel   string
}

// parseDevFlags reads the flags; the edge and TURN ports default to fixed
// well-known ports beside the API's, or to ephemeral ports when the API's
// port is 0 (tests and the bench harness).
func parseDevFlags(e env, args []string) (devFlags, error) {
	fs := newFlagSet(e, "dev")
	f := devFlags{}
	fs.StringVar(&f.data, "data", "data", "data folder (SQLite store, generated secrets, the dev API client)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "control plane address: REST API, room pages, /docs")
	fs.StringVar(&f.edgeListen, "edge-listen", "", "edge signalling address (default: the API host, port 7880, or 0 when --listen has port 0)")
	fs.IntVar(&f.rtcPort, "rtc-port", -1, "edge ICE UDP port (default 7882, or 0 when --listen has port 0)")
	fs.StringVar(&f.turnListen, "turn-listen", "", "TURN UDP/TCP address (default: the API host, port 3478, or 0)")
	fs.StringVar(&f.turnTLS, "turn-tls-listen", "", `TURN over TLS address with a self-signed certificate, or "off" (default: the API host, port 5349, or 0)`)
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return f, err
	}
	host, port, err := net.SplitHostPort(f.listen)
	if err != nil {
		fmt.Fprintf(e.stderr, "spacecast dev: --listen %q: want HOST:PORT\n", f.listen)
		return f, errUsage
	}
	ephemeral := port == "0"
	pick := func(def int) string {
		if ephemeral {
			return net.JoinHostPort(host, "0")
		}
		return net.JoinHostPort(host, strconv.Itoa(def))
	}
	if f.edgeListen == "" {
		f.edgeListen = pick(7880)
	}
	if f.turnListen == "" {
		f.turnListen = pick(3478)
	}
	if f.turnTLS == "" {
		f.turnTLS = pick(5349)
	}
	if f.rtcPort < 0 {
		f.rtcPort = 7882
		if ephemeral {
			f.rtcPort = 0
		}
	}
	return f, nil
}

// runDev runs the control plane, an edge and TURN in one process on SQLite
// in the data folder: the README's first command. Everything it needs is
// made on first start and kept in the data folder.
func runDev(ctx context.Context, e env, args []string) error {
	f, err := parseDevFlags(e, args)
	if err != nil {
		return err
	}
	log, err := logging.Config{Level: f.logLevel}.New(e.stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	cl, err := devCluster(filepath.Join(f.data, devClusterFile))
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, filepath.Join(f.data, "spacecast.db"), log)
	if err != nil {
		return err
	}
	defer st.Close()
	client, err := devClient(ctx, st, filepath.Join(f.data, devClientFile))
	if err != nil {
		return err
	}

	// Listen on every port before serving anything.
	l, err := listenDev(ctx, f)
	if err != nil {
		return err
	}
	defer l.close()
	host, _, _ := net.SplitHostPort(f.listen)
	apiURL := "http://" + l.api.Addr().String()
	edgeURL := "ws://" + l.edge.Addr().String()

	reg := prometheus.NewRegistry()
	turnCfg := turn.Config{
		Listen:     l.turnAddr(),
		TLSListen:  f.turnTLS,
		UDPSockets: len(l.turn.UDP),
		// Dev runs on one machine: participants relay to the edge on
		// loopback, which production refuses by default.
		Allow:      []string{"127.0.0.0/8", "::1/128"},
		PublicHost: host,
		// Relayed traffic goes to the edge of this process.
		RelayBind: devRelayIP(host),
		RelayIP:   devRelayIP(host),
	}.WithDefaults()
	if len(l.turn.TLS) > 0 {
		turnCfg.TLSListen = l.turn.TLS[0].Addr().String()
	}
	if err := turnCfg.Validate(); err != nil {
		return err
	}
	turnURLs := turn.URLs(turnCfg, host)
	ts, err := turn.New(turnCfg, cl.TURNSecrets, l.turn, turn.WithLogger(log), turn.WithRegisterer(reg))
	if err != nil {
		return err
	}
	l.turn = turn.Sockets{} // owned by the TURN server now

	edgeCfg := edge.DefaultConfig()
	edgeCfg.Listen = l.edge.Addr().String()
	edgeCfg.PublicURL = edgeURL
	edgeCfg.NodeID = "dev-edge"
	edgeCfg.Region = "dev"
	edgeCfg.RTC.UDPPort = l.rtc.LocalAddr().(*net.UDPAddr).Port
	edgeCfg.TURNURLs = turnURLs
	hooks, err := devWebhooks(st, cl, edgeCfg.NodeID, log, reg)
	if err != nil {
		return err
	}
	cpCfg := controlplane.DefaultConfig()
	cpCfg.DrainDelay = 0 // one process, no load balancer in front
	// Removals made on the edge (the room page's Remove) and through REST
	// bar the same credentials on both sides.
	removals := removal.NewSet(cpCfg.SessionTTL, 100_000)
	// Recordings: made in the data folder, stored beside it, downloaded
	// through the control plane's signed links.
	urlKey, err := devURLKey(filepath.Join(f.data, devURLKeyFile))
	if err != nil {
		return err
	}
	files, err := blob.NewLocal(blob.LocalConfig{Dir: filepath.Join(f.data, devRecordings), BaseURL: apiURL + "/files"}, urlKey, 0)
	if err != nil {
		return err
	}
	recording := &edge.RecordingDeps{Config: recorder.Config{Dir: filepath.Join(f.data, devRecording)}, Store: files,
		Report: hooks.reporter.RecordChanged}
	ed, err := edge.New(edgeCfg, edge.Deps{Logger: log, Cluster: cl, Registerer: reg, UDP: l.rtc, Signal: l.edge, Observer: hooks.reporter,
		Revoked: removals.Revoked, Revoke: removals.RevokeParticipant, Recording: recording})
	if err != nil {
		return err
	}
	l.rtc, l.edge = nil, nil // owned by the edge now

	cpCfg.Listen = l.api.Addr().String()
	cpCfg.PublicURL = apiURL
	page, err := web.New(web.Deps{Store: st, Logger: log})
	if err != nil {
		return err
	}
	cpm, err := cpmetrics.New(reg)
	if err != nil {
		return err
	}
	cp, err := controlplane.New(cpCfg, controlplane.Deps{
		Store: cpm.Store(st), Logger: log, Metrics: cpm, Cluster: cl, Page: page.Handler(), Internal: hooks.internal.Serve, Revocations: removals,
		Recordings: files, Files: files.Handler(),
		Placer: placement.Static{Edge: placement.Placement{
			NodeID: edgeCfg.NodeID, Region: edgeCfg.Region, SignalURL: edgeURL, TURNURLs: turnURLs,
		}},
	})
	if err != nil {
		return err
	}

	client.APIURL, client.EdgeURL, client.RTCPort, client.TURNURLs = apiURL, edgeURL, edgeCfg.RTC.UDPPort, turnURLs
	if err := saveDevClient(filepath.Join(f.data, devClientFile), client); err != nil {
		return err
	}
	printDev(e, apiURL, edgeURL, turnURLs, f.data, client)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ts.Run(gctx) })
	// The reporter stops after the edge: the states of the recordings the
	// stopping edge composes and stores still reach the tracker.
	repCtx, stopRep := context.WithCancel(context.WithoutCancel(gctx))
	defer stopRep()
	g.Go(func() error { defer stopRep(); return ed.Run(gctx) })
	g.Go(func() error { return hooks.deliverer.Run(gctx) })
	g.Go(func() error { return hooks.calls.Run(gctx) })
	g.Go(func() error { return hooks.reporter.Run(repCtx) })
	api := l.api
	l.api = nil
	g.Go(func() error { return cp.Run(gctx, api) })
	err = g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("spacecast dev stopped")
	return nil
}

// devHooks are dev's webhook parts: the edge's Reporter feeds the call
// tracker in-process (no HTTP), the tracker has the Deliverer send
// call_started / call_finished. The edge-events endpoint is served too, for
// edges run apart against this control plane.
type devHooks struct {
	deliverer *webhook.Deliverer
	calls     *webhook.Calls
	reporter  *reporter.Reporter
	internal  *webhook.Handler
}

func devWebhooks(st devHookStore, cl clusterkey.Config, node string, log *slog.Logger, reg prometheus.Registerer) (devHooks, error) {
	var h devHooks
	cfg := webhook.DefaultConfig()
	// Dev serves this machine: receivers on loopback are allowed, the rest
	// of the non-public addresses are not.
	cfg.Allow = []string{"127.0.0.0/8", "::1/128"}
	var err error
	if h.deliverer, err = webhook.New(cfg, webhook.Deps{Store: st, Logger: log, Registerer: reg}); err != nil {
		return h, err
	}
	if h.calls, err = webhook.NewCalls(cfg.Calls, st, log, nil); err != nil {
		return h, err
	}
	if h.reporter, err = reporter.New(reporter.Config{Node: node}, reporter.Deps{Sink: h.calls, Logger: log, Registerer: reg}); err != nil {
		return h, err
	}
	if h.internal, err = webhook.NewHandler(h.calls, cl, log); err != nil {
		return h, err
	}
	return h, nil
}

// devHookStore is what dev's webhook parts use of the store.
type devHookStore interface {
	webhook.Store
	webhook.CallStore
}

// devListeners are the sockets of `spacecast dev`, opened before serving.
type devListeners struct {
	api  net.Listener
	edge net.Listener
	rtc  net.PacketConn
	turn turn.Sockets
}

func listenDev(ctx context.Context, f devFlags) (*devListeners, error) {
	l := &devListeners{}
	var err error
	if l.api, err = net.Listen("tcp", f.listen); err != nil {
		return nil, fmt.Errorf("listen %s: %w", f.listen, err)
	}
	if l.edge, err = net.Listen("tcp", f.edgeListen); err != nil {
		l.close()
		return nil, fmt.Errorf("edge listen %s: %w", f.edgeListen, err)
	}
	host, _, _ := net.SplitHostPort(f.listen)
	if l.rtc, err = net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(f.rtcPort))); err != nil {
		l.close()
		return nil, fmt.Errorf("edge rtc udp port %d: %w", f.rtcPort, err)
	}
	tc := turn.Config{Listen: f.turnListen, TLSListen: f.turnTLS, UDPSockets: 2}.WithDefaults()
	if l.turn, err = turn.Listen(ctx, tc); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// turnAddr is the bound TURN UDP/TCP address (the ports match).
func (l *devListeners) turnAddr() string { return l.turn.UDP[0].LocalAddr().String() }

// close closes what no server has taken over yet.
func (l *devListeners) close() {
	if l.api != nil {
		_ = l.api.Close()
	}
	if l.edge != nil {
		_ = l.edge.Close()
	}
	if l.rtc != nil {
		_ = l.rtc.Close()
	}
	l.turn.Close()
}

// devRelayIP is where dev's TURN relays from: the API host's address when it
// is a specific IP, else loopback (the edge, the only peer, is local).
func devRelayIP(host string) string {
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return ip.String()
	}
	return "127.0.0.1"
}

// devCluster loads the generated cluster secrets, making them on first start.
func devCluster(path string) (clusterkey.Config, error) {
	var c clusterkey.Config
	err := config.Load(path, &c)
	if err == nil {
		return c, c.Validate()
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	if c, err = clusterkey.Generate(); err != nil {
		return c, err
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return c, fmt.Errorf("dev cluster: %w", err)
	}
	header := "# Secrets generated by `spacecast dev` on first start. Keep this file private.\n"
	if err := os.WriteFile(path, append([]byte(header), b...), 0o600); err != nil {
		return c, fmt.Errorf("dev cluster: %w", err)
	}
	return c, nil
}

// devClientCreds is the API client `spacecast dev` makes on first start. Its
// secret is kept in the data folder so that the README's commands can use
// it: production never stores a client secret (see `spacecast admin`).
type devClientCreds struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	// Where this dev listens, rewritten at every start, for tools on the
	// same machine (`spacecast bench rooms --dev`). A file without them
	// (written before they existed) means dev's default addresses.
	APIURL   string   `json:"apiURL,omitempty"`
	EdgeURL  string   `json:"edgeURL,omitempty"`
	RTCPort  int      `json:"rtcPort,omitempty"` // the edge's ICE UDP port
	TURNURLs []string `json:"turnURLs,omitempty"`
}

func devClient(ctx context.Context, st store.Clients, path string) (devClientCreds, error) {
	var c devClientCreds
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &c); err != nil {
			return c, fmt.Errorf("%s: %w", path, err)
		}
		if _, err := st.GetClient(ctx, store.ClientID(c.ClientID)); err == nil {
			return c, nil
		}
		// The store was reset: make a new client below.
	} else if !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	id, secret, err := controlplane.CreateClient(ctx, st, "dev", time.Now())
	if err != nil {
		return c, err
	}
	c = devClientCreds{ClientID: string(id), ClientSecret: secret}
	return c, saveDevClient(path, c)
}

// saveDevClient writes the dev client file (mode 0600: it holds the
// secret) through a temporary file, so that a reader never sees half of it.
func saveDevClient(path string, c devClientCreds) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("dev client: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("dev client: %w", err)
	}
	return nil
}

func printDev(e env, apiURL, edgeURL string, turnURLs []string, data string, c devClientCreds) {
	w := e.stdout
	fmt.Fprintf(w, "spacecast dev is running (control plane, edge and TURN in one process; data in %s)\n", data)
	fmt.Fprintf(w, "  API          %s/v1\n", apiURL)
	fmt.Fprintf(w, "  Swagger UI   %s/docs\n", apiURL)
	fmt.Fprintf(w, "  OpenAPI      %s/v1/openapi.json\n", apiURL)
	fmt.Fprintf(w, "  room pages   %s/room/<alias>\n", apiURL)
	fmt.Fprintf(w, "  health       %s/healthz  %s/readyz\n", apiURL, apiURL)
	fmt.Fprintf(w, "  edge         %s (LiveKit protocol)\n", edgeURL)
	for _, u := range turnURLs {
		fmt.Fprintf(w, "  TURN         %s\n", u)
	}
	fmt.Fprintf(w, "  API client   %s (secret in %s)\n", c.ClientID, filepath.Join(data, devClientFile))
	fmt.Fprintln(w, "Press Ctrl-C to stop (a second Ctrl-C forces).")
}
