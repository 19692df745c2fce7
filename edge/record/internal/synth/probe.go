package synth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Probe is what ffprobe says of a media file.
type Probe struct {
	Format struct {
		Duration   string `json:"duration"`
		FormatName string `json:"format_name"`
	} `json:"format"`
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		Duration  string `json:"duration"`
		Channels  int    `json:"channels"`
	} `json:"streams"`
}

// Seconds is the file's duration.
func (p *Probe) Seconds() float64 {
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return d
}

// ProbeFile runs ffprobe on path.
func ProbeFile(ctx context.Context, path string) (Probe, error) {
	var p Probe
	out, err := probe(ctx, "-show_format", "-show_streams", path)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(out, &p); err != nil {
		return p, fmt.Errorf("synth: ffprobe %s: %w", path, err)
	}
	return p, nil
}

// FrameInfo is one decoded video frame.
type FrameInfo struct {
	Time          float64
	Width, Height int
	Key           bool
}

// Frames decodes the first video stream of path and lists its frames.
func Frames(ctx context.Context, path string) ([]FrameInfo, error) {
	out, err := probe(ctx, "-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time,width,height,key_frame", path)
	if err != nil {
		return nil, err
	}
	var r struct {
		Frames []struct {
			T   string `json:"best_effort_timestamp_time"`
			W   int    `json:"width"`
			H   int    `json:"height"`
			Key int    `json:"key_frame"`
		} `json:"frames"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("synth: ffprobe frames of %s: %w", path, err)
	}
	fs := make([]FrameInfo, 0, len(r.Frames))
	for _, f := range r.Frames {
		t, _ := strconv.ParseFloat(f.T, 64)
		fs = append(fs, FrameInfo{Time: t, Width: f.W, Height: f.H, Key: f.Key == 1})
	}
	return fs, nil
}

// PacketTimes lists the presentation times of the packets of path's first
// stream, in file order, without decoding.
func PacketTimes(ctx context.Context, path string) ([]float64, error) {
	out, err := probe(ctx, "-select_streams", "0", "-show_entries", "packet=pts_time", path)
	if err != nil {
		return nil, err
	}
	var r struct {
		Packets []struct {
			T string `json:"pts_time"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("synth: ffprobe packets of %s: %w", path, err)
	}
	ts := make([]float64, 0, len(r.Packets))
	for _, p := range r.Packets {
		t, _ := strconv.ParseFloat(p.T, 64)
		ts = append(ts, t)
	}
	return ts, nil
}

func probe(ctx context.Context, args ...string) ([]byte, error) {
	fp, err := FFprobe()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, fp, append([]string{"-v", "error", "-of", "json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("synth: ffprobe %v: %w: %s", args, err, stderr.Bytes())
	}
	return out, nil
}

// Decode decodes every stream of path with ffmpeg and returns what ffmpeg
// reported as errors (empty for a clean decode).
func Decode(ctx context.Context, path string) (string, error) {
	ff, err := FFmpeg()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, ff, "-hide_banner", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	return strings.TrimSpace(stderr.String()), err
}
