package record

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ManifestName is the manifest's file name in a recording's directory.
const ManifestName = "manifest.json"

// Recording states in the manifest.
const (
	StateRecording = "recording" // still running, or the edge died while it ran
	StateFinished  = "finished"
	StateFailed    = "failed"
)

// Manifest describes a recording: what compose needs to put its files on
// one timeline, and what the control plane lists. Offsets are
// milliseconds from StartedAt.
type Manifest struct {
	ID         string    `json:"id"`
	Room       string    `json:"room,omitempty"`
	State      string    `json:"state"`
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// DurationMs is the end of the last file written.
	DurationMs   int64            `json:"durationMs"`
	Participants []ManifestPerson `json:"participants"`
	Tracks       []ManifestTrack  `json:"tracks"`
}

// ManifestPerson is one participant who published.
type ManifestPerson struct {
	Identity string   `json:"identity"`
	Name     string   `json:"name,omitempty"`
	SIDs     []string `json:"sids,omitempty"` // one per connection
	// FirstMs is when the participant's first track was added.
	FirstMs int64 `json:"firstMs"`
}

// ManifestTrack is one recorded track: everything one participant
// published from one source, across reconnects.
type ManifestTrack struct {
	Participant string   `json:"participant"`
	Source      string   `json:"source,omitempty"`
	Name        string   `json:"name,omitempty"`
	Kind        string   `json:"kind"` // "audio" or "video"
	Codec       string   `json:"codec"`
	TrackSIDs   []string `json:"trackSids,omitempty"`
	// Files are the track's segments, in order; a new one starts when the
	// codec changes.
	Files []ManifestFile `json:"files"`
	// Clock says how the track's frames were timed: "sender-report", or
	// "arrival" for a stream whose publisher sent no sender report in time.
	Clock string `json:"clock,omitempty"`
	// Counters.
	LayerSwitches  int    `json:"layerSwitches,omitempty"`
	SSRCChanges    int    `json:"ssrcChanges,omitempty"`
	Reconnects     int    `json:"reconnects,omitempty"`
	DroppedPackets uint64 `json:"droppedPackets,omitempty"` // the pool was full
	SkippedFrames  uint64 `json:"skippedFrames,omitempty"`  // undecodable after a loss
}

// ManifestFile is one file of a track.
type ManifestFile struct {
	Name    string `json:"name"`
	StartMs int64  `json:"startMs"` // first frame on the recording's timeline
	EndMs   int64  `json:"endMs"`   // last frame's start
	Frames  uint64 `json:"frames"`
	Bytes   int64  `json:"bytes"`
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
}

// ReadManifest reads the manifest in dir.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return m, fmt.Errorf("record: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("record: %s: %w", ManifestName, err)
	}
	return m, nil
}

func (m *Manifest) encode() ([]byte, error) {
	return json.MarshalIndent(m, "", "  ")
}
