package codec

import (
	"encoding/binary"
	"errors"
)

// ErrRED is a RED payload whose block headers run past its end.
var ErrRED = errors.New("codec: malformed RED payload")

// REDPrimary returns the primary (last) encoding of a RED payload (RFC 2198
// §3): 4-byte headers for the redundant blocks, each with its length, then
// a 1-byte header for the primary; the data follow in that order. The
// primary may be empty.
func REDPrimary(p []byte) ([]byte, error) {
	i, skip := 0, 0
	for {
		if i >= len(p) {
			return nil, ErrRED
		}
		if p[i]&0x80 == 0 {
			i++
			break
		}
		if i+4 > len(p) {
			return nil, ErrRED
		}
		skip += int(binary.BigEndian.Uint16(p[i+2:]) & 0x3ff)
		i += 4
	}
	if i+skip > len(p) {
		return nil, ErrRED
	}
	return p[i+skip:], nil
}
