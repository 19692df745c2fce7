package turn

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/testenv"
)

// needTool finds a tool installed by .ci/deps: missing, it fails the test
// under CI=true and skips it elsewhere.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	testenv.Need(t, name+" (Debian package coturn)", err)
	return p
}

// freeUDPPort picks a free port on 127.0.0.1 for turnutils_peer, which
// takes a port number rather than a socket.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

var lossRE = regexp.MustCompile(`Total lost packets (\d+) \(([0-9.]+)%\)`)

// TestCoturnUclient runs coturn's turnutils_uclient through our server to a
// turnutils_peer echo peer over UDP, TCP and TLS: every packet comes back.
// With a wrong or expired credential it gets no allocation. (-c: no RTCP
// allocation; uclient reserves it with EVEN-PORT + RESERVATION-TOKEN, and
// pion/turn keeps reservations per server socket, so with SO_REUSEPORT the
// second request may land on a socket that does not know the token.)
func TestCoturnUclient(t *testing.T) { onEveryPath(t, testCoturnUclient) }

func testCoturnUclient(t *testing.T, path Option) {
	uclient := needTool(t, "turnutils_uclient")
	peerBin := needTool(t, "turnutils_peer")
	ts := startServerOpts(t, nil, []Option{path})

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	peerPort := freeUDPPort(t)
	peer := exec.CommandContext(ctx, peerBin, "-L", "127.0.0.1", "-p", strconv.Itoa(peerPort))
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Process.Kill(); _ = peer.Wait() })

	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	tests := []struct {
		name     string
		flags    []string
		addr     string
		secret   string
		wantFail bool
	}{
		{"udp", []string{"-c"}, ts.udp, testSecret, false},
		{"tcp", []string{"-c", "-t"}, ts.tcp, testSecret, false},
		{"tls", []string{"-c", "-t", "-S"}, ts.tls, testSecret, false},
		{"udp send indications", []string{"-c", "-s"}, ts.udp, testSecret, false},
		{"wrong secret", []string{"-c"}, ts.udp, "not-the-secret-at-all", true},
		{"expired", []string{"-c"}, ts.udp, "", true},
	}
	expiredUser, expiredPass := creds(testSecret, "late", -time.Minute)
	t.Cleanup(cancel) // after the parallel subtests
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := ts.Stats()
			args := append([]string{}, tt.flags...)
			if tt.secret != "" {
				args = append(args, "-W", tt.secret, "-u", "uclient-"+strconv.Itoa(i))
			} else {
				args = append(args, "-u", expiredUser, "-w", expiredPass)
			}
			args = append(args, "-e", "127.0.0.1", "-r", strconv.Itoa(peerPort),
				"-p", port(tt.addr), "-n", "20", "-m", "2", "-l", "120", "-z", "2", "-X", "127.0.0.1")
			out, err := exec.CommandContext(ctx, uclient, args...).CombinedOutput()
			m := lossRE.FindSubmatch(out)
			if tt.wantFail {
				if err == nil && m != nil {
					t.Fatalf("uclient succeeded with a wrong secret:\n%s", out)
				}
				if ts.Stats().AuthFailures == before.AuthFailures {
					t.Fatal("auth failure not counted")
				}
				return
			}
			if err != nil || m == nil {
				t.Fatalf("uclient: %v\n%s", err, out)
			}
			if string(m[1]) != "0" {
				t.Fatalf("lost %s packets (%s%%)\n%s", m[1], m[2], out)
			}
			if s := ts.Stats(); s.ToPeerPackets-before.ToPeerPackets < 40 || s.ToClientPackets-before.ToClientPackets < 40 {
				t.Fatalf("relayed %d to peers, %d to clients", s.ToPeerPackets-before.ToPeerPackets, s.ToClientPackets-before.ToClientPackets)
			}
		})
	}
}
