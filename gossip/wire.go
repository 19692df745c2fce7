package gossip

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// errWire marks a gossip message or state that cannot be decoded.
var errWire = errors.New("gossip: malformed message")

// Message types: the first byte of every user broadcast.
const (
	msgRoom   byte = 'd'
	msgRevoke byte = 'r'
)

// state is the user part of a push/pull.
type state struct {
	Dir    []dirOrigin  `json:"d,omitempty"`
	Revoke []Revocation `json:"v,omitempty"`
}

func encodeMsg(t byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own plain structs are marshalled: this cannot fail.
		panic(fmt.Sprintf("gossip: marshal: %v", err))
	}
	return append([]byte{t}, b...)
}

// decodeMsg parses a broadcast (untrusted beyond the keyring; fuzzed).
func decodeMsg(b []byte) (any, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", errWire, len(b))
	}
	switch b[0] {
	case msgRoom:
		var d dirDelta
		if err := json.Unmarshal(b[1:], &d); err != nil {
			return nil, fmt.Errorf("%w: %w", errWire, err)
		}
		if d.Node == "" || d.Name == "" {
			return nil, fmt.Errorf("%w: room delta without node or room", errWire)
		}
		return d, nil
	case msgRevoke:
		var r Revocation
		if err := json.Unmarshal(b[1:], &r); err != nil {
			return nil, fmt.Errorf("%w: %w", errWire, err)
		}
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", errWire, err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: type %q", errWire, b[0])
}

func decodeState(b []byte) (state, error) {
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return state{}, fmt.Errorf("%w: state: %w", errWire, err)
	}
	return s, nil
}

// broadcast is one queued user message. Messages with the same key
// invalidate each other, so only the newest change of a room (or
// revocation) is retransmitted.
type broadcast struct {
	key string
	msg []byte
}

var _ memberlist.NamedBroadcast = broadcast{}

func (b broadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(broadcast)
	return ok && ob.key == b.key
}
func (b broadcast) Name() string    { return b.key }
func (b broadcast) Message() []byte { return b.msg }
func (b broadcast) Finished()       {}
