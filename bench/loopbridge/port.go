package loopbridge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrPort means a port list could not be read.
var ErrPort = errors.New("loopbridge: bad port")

// Port is one forwarded port.
type Port struct {
	Network string // "tcp" or "udp"
	Port    uint16
}

func (p Port) String() string { return p.Network + ":" + strconv.Itoa(int(p.Port)) }

// ParsePorts reads a list such as "tcp:7880,udp:7882". Duplicates are
// removed; the order is kept.
func ParsePorts(s string) ([]Port, error) {
	var out []Port
	seen := map[Port]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		netw, num, ok := strings.Cut(f, ":")
		if !ok || (netw != "tcp" && netw != "udp") {
			return nil, fmt.Errorf("%w %q: want tcp:PORT or udp:PORT", ErrPort, f)
		}
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%w %q: port 1 to 65535", ErrPort, f)
		}
		p := Port{Network: netw, Port: uint16(n)}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}
