package gossip

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hashicorp/memberlist"
)

// errWire marks a gossip message or state that cannot be decoded.
var errWire = errors.New("gossip: malformed message")

// Message types: the first byte of every user broadcast. ('d', the room
// change of the directory's first format, is no longer sent nor read.)
const (
	msgRoom   byte = 'D'
	msgRevoke byte = 'r'
	msgList   byte = 'l'
	msgRecord byte = 'm'
)

// state is the user part of a push/pull. Its keys differ from the first
// format's ("d"), which older nodes would fail to read; the revocations
// keep theirs.
type state struct {
	Rooms   []dirOrigin  `json:"rooms,omitempty"`
	Lists   []listOrigin `json:"lists,omitempty"`
	Records []record     `json:"nodes,omitempty"`
	Revoke  []Revocation `json:"v,omitempty"`
}

func encodeMsg(t byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own plain structs are marshalled: this cannot fail.
		panic(fmt.Sprintf("gossip: marshal: %v", err))
	}
	return append([]byte{t}, b...)
}

func encodeState(s state) []byte { return encodeMsg(0, s)[1:] }

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
		if err := checkDelta(d); err != nil {
			return nil, err
		}
		return d, nil
	case msgList:
		var d listDelta
		if err := json.Unmarshal(b[1:], &d); err != nil {
			return nil, fmt.Errorf("%w: %w", errWire, err)
		}
		if err := checkDelta(d); err != nil {
			return nil, err
		}
		return d, nil
	case msgRecord:
		var r record
		if err := json.Unmarshal(b[1:], &r); err != nil {
			return nil, fmt.Errorf("%w: %w", errWire, err)
		}
		if r.ID == "" || len(r.Meta) > MetaLimit {
			return nil, fmt.Errorf("%w: record without node or with %d bytes of metadata", errWire, len(r.Meta))
		}
		return r, nil
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

// checkDelta refuses a delta without origin, or without name unless it is
// a reset.
func checkDelta[T any](d vdelta[T]) error {
	if d.Origin == "" || (d.Name == "" && !d.Entry.Deleted) {
		return fmt.Errorf("%w: delta without origin or name", errWire)
	}
	return nil
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

func revokeBroadcast(r Revocation) broadcast {
	return broadcast{key: "r/" + strconv.Itoa(int(r.Kind)) + "/" + r.Room + "/" + r.Subject, msg: encodeMsg(msgRevoke, r)}
}
