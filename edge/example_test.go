package edge_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// Embedding the edge in another server (what `spacecast dev` does): the
// caller binds the ICE UDP port, mounts the edge's handler on its own mux
// and runs the edge for the lifetime of ctx.
func Example_embed() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl, _ := clusterkey.Generate()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return
	}
	cfg := edge.DefaultConfig()
	cfg.PublicURL = "ws://127.0.0.1:8080" // where clients reach the mux below
	e, err := edge.New(cfg, edge.Deps{Logger: slog.Default(), Cluster: cl, UDP: udp})
	if err != nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/rtc", e.Handler())
	mux.Handle("/rtc/", e.Handler())
	mux.Handle("/twirp/livekit.RoomService/", e.Handler())
	go func() { _ = e.Run(ctx) }() // returns (and closes the edge) when ctx ends
	_ = &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
}
