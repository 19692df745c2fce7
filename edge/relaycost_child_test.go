package edge

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/relay"
)

// The far ends of the relay cost benchmarks (relaycost_test.go), each in a
// child process: this test binary again, its role in costRoleEnv, driven
// by lines on its stdin and answering on its stdout.

// costChildMain runs a child of the cost benchmarks (its role in
// costRoleEnv) and returns the exit code.
func costChildMain() int {
	var err error
	switch os.Getenv(costRoleEnv) {
	case "peer":
		err = costPeer()
	case "origin":
		err = costOriginChild()
	case "pion":
		err = costPionChild()
	default:
		err = errors.New("unknown role")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay cost child:", err)
		return 1
	}
	return 0
}

func costKey() ([]byte, error) { return hex.DecodeString(os.Getenv("SC_COST_KEY")) }

// childRelay is costRelay for a child (no testing.TB).
func childRelay(node string, key []byte, origin relay.Origin, peers map[string]string) (*relay.Relay, func(), error) {
	id, err := relay.NewIdentity(node, [][]byte{key}, nil)
	if err != nil {
		return nil, nil, err
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	r, err := relay.New(relay.Config{Identity: id, PacketConn: pc, Origin: origin, Resolve: func(n string) (string, bool) {
		a, ok := peers[n]
		return a, ok
	}})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	return r, func() { cancel(); <-done }, nil
}

type countHandler struct{ n *atomic.Int64 }

func (h countHandler) RTP(int, []byte)                { h.n.Add(1) }
func (countHandler) SenderReport(int, uint64, uint32) {}
func (countHandler) LayerState(relay.LayerState)      {}
func (countHandler) Refused(string)                   {}

// costPeer drains a UDP socket (the local subscriber's) and, told
// "subscribe ADDR", subscribes to edge-a's track there and counts what
// arrives.
func costPeer() error {
	key, err := costKey()
	if err != nil {
		return err
	}
	stopSink, err := costSink()
	if err != nil {
		return err
	}
	defer stopSink()
	var n atomic.Int64
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch cmd, arg, _ := strings.Cut(sc.Text(), " "); cmd {
		case "subscribe":
			r, stop, err := childRelay("edge-b", key, nil, map[string]string{"edge-a": arg})
			if err != nil {
				return err
			}
			defer stop()
			sub, err := r.Subscribe("edge-a", "room", "track", 1, countHandler{&n})
			if err != nil {
				return err
			}
			defer sub.Close()
		case "report":
			fmt.Printf("received %d\n", n.Load())
		}
	}
	return nil
}

// costSink opens a UDP socket that a goroutine drains, prints its address
// ("sink ADDR") and returns its stop.
func costSink() (func(), error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			if _, _, err := c.ReadFromUDP(buf); err != nil {
				return
			}
		}
	}()
	fmt.Printf("sink %s\n", c.LocalAddr())
	return func() { _ = c.Close(); <-done }, nil
}

// senderOrigin hands the first subscriber's Sender to the child's pacer.
type senderOrigin struct{ out atomic.Pointer[relay.Sender] }

type nopFeed struct{}

func (nopFeed) SetLayers(uint8)                     {}
func (nopFeed) RequestKeyframe(int)                 {}
func (nopFeed) RequestRetransmission(int, []uint16) {}
func (nopFeed) Close()                              {}

func (o *senderOrigin) Open(_, _, _ string, out *relay.Sender) (relay.Feed, error) {
	if o.out.Swap(out) == nil {
		fmt.Println("open")
	}
	return nopFeed{}, nil
}

// costOriginChild serves a track that it paces between "start" and "stop".
func costOriginChild() error {
	key, err := costKey()
	if err != nil {
		return err
	}
	o := &senderOrigin{}
	r, stop, err := childRelay("edge-a", key, o, nil)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("addr %s\n", r.Addr())
	stopSink, err := costSink()
	if err != nil {
		return err
	}
	defer stopSink()
	return costDrive(os.Stdin, func(p []byte) {
		if s := o.out.Load(); s != nil {
			s.WriteRTP(0, p)
		}
	})
}

// costDrive paces the stream through write between the "start" and
// "stop" lines of stdin, until it ends.
func costDrive(in io.Reader, write func([]byte)) error {
	sc := bufio.NewScanner(in)
	m := newCostMedia() // one stream across starts: its numbers go on
	halt := func() {}
	defer func() { halt() }()
	for sc.Scan() {
		switch sc.Text() {
		case "start":
			halt()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() { done <- pace(ctx, m, write) }()
			halt = func() {
				cancel()
				<-done
				halt = func() {}
			}
		case "stop":
			halt()
		}
	}
	return nil
}

// costPionChild is a pion publisher of one VP8 track: it offers, reads the
// answer, then paces the stream between "start" and "stop".
func costPionChild() error {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(loopbackSettings()))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "cost")
	if err != nil {
		return err
	}
	snd, err := pc.AddTrack(tr)
	if err != nil {
		return err
	}
	go func() { // RTCP from the edge
		buf := make([]byte, 1500)
		for {
			if _, _, err := snd.Read(buf); err != nil {
				return
			}
		}
	}()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	j, _ := json.Marshal(pc.LocalDescription())
	fmt.Printf("offer %s\n", j)
	sc := bufio.NewReader(os.Stdin)
	line, err := sc.ReadString('\n')
	if err != nil {
		return err
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "answer ")
	if !ok {
		return fmt.Errorf("want an answer, got %q", line)
	}
	var ans webrtc.SessionDescription
	if err := json.Unmarshal([]byte(rest), &ans); err != nil {
		return err
	}
	if err := pc.SetRemoteDescription(ans); err != nil {
		return err
	}
	return costDrive(sc, func(p []byte) { _, _ = tr.Write(p) })
}
