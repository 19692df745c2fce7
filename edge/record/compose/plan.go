package compose

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/spacecast/spacecast/edge/record"
)

// Layout places the video tracks on the picture.
type Layout string

// Layouts.
const (
	// Grid gives every video track an equal cell, in the order the
	// tracks were first published.
	Grid Layout = "grid"
	// Presentation gives the first screen share three quarters of the
	// width and stacks the other video tracks in the column beside it;
	// without a screen share it is Grid.
	Presentation Layout = "presentation"
)

// cell is a rectangle of the picture.
type cell struct{ x, y, w, h int }

// plan is an ffmpeg invocation: its inputs and its filter graph.
type plan struct {
	inputs   []string // files, in input order
	video    []bool   // whether input i is video
	graph    string
	duration float64 // seconds
}

// even rounds n down to an even number (yuv420p needs even sizes).
func even(n int) int { return n &^ 1 }

// cells lays out n tracks in w×h; wide is the index of the track that
// Presentation makes large (-1: Grid).
func cells(n, w, h, wide int) []cell {
	if n == 0 {
		return nil
	}
	if wide >= 0 && n > 1 {
		main := even(w * 3 / 4)
		side := even(w - main)
		out := make([]cell, n)
		out[wide] = cell{0, 0, main, h}
		k, rows := 0, n-1
		for i := range out {
			if i == wide {
				continue
			}
			out[i] = cell{main, even(h * k / rows), side, even(h/rows) &^ 1}
			k++
		}
		return out
	}
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	rows := (n + cols - 1) / cols
	cw, ch := even(w/cols), even(h/rows)
	out := make([]cell, n)
	for i := range out {
		r, c := i/cols, i%cols
		// The last row, if short, is centred.
		inRow := cols
		if r == rows-1 && n%cols != 0 {
			inRow = n % cols
		}
		x0 := even((w - inRow*cw) / 2)
		out[i] = cell{x0 + c*cw, r * ch, cw, ch}
	}
	return out
}

// tail is how long the last frame of a file lasts beyond its start.
const tail = 0.04

// makePlan builds the invocation for the recording in dir.
func makePlan(cfg *Config, dir string, m *record.Manifest) (*plan, error) {
	p := &plan{}
	var videoTracks []record.ManifestTrack
	var audioFiles []record.ManifestFile
	for _, t := range m.Tracks {
		if len(t.Files) == 0 {
			continue
		}
		if t.Kind == "video" {
			videoTracks = append(videoTracks, t)
		} else {
			audioFiles = append(audioFiles, t.Files...)
		}
		for _, f := range t.Files {
			p.duration = max(p.duration, float64(f.EndMs)/1000+tail)
		}
	}
	if p.duration == 0 {
		return nil, fmt.Errorf("%w: recording %s has no file", ErrEmpty, m.ID)
	}
	wide := -1
	if cfg.Layout == Presentation {
		for i, t := range videoTracks {
			if t.Source == record.SourceScreenShare {
				wide = i
				break
			}
		}
	}
	layout := cells(len(videoTracks), cfg.Width, cfg.Height, wide)

	var g strings.Builder
	fmt.Fprintf(&g, "color=c=0x1c1c1c:s=%dx%d:r=%d:d=%.3f[base0];\n", cfg.Width, cfg.Height, cfg.FPS, p.duration)
	base := 0
	for i, t := range videoTracks {
		c := layout[i]
		for _, f := range t.Files {
			in := len(p.inputs)
			p.inputs = append(p.inputs, filepath.Join(dir, filepath.Base(f.Name)))
			p.video = append(p.video, true)
			fmt.Fprintf(&g, "[%d:v]setpts=PTS-STARTPTS+%.3f/TB,scale=%d:%d:force_original_aspect_ratio=decrease,"+
				"pad=%d:%d:(ow-iw)/2:(oh-ih)/2:color=0x1c1c1c,setsar=1,format=yuv420p[v%d];\n",
				in, float64(f.StartMs)/1000, c.w, c.h, c.w, c.h, in)
			fmt.Fprintf(&g, "[base%d][v%d]overlay=x=%d:y=%d:eof_action=pass:repeatlast=0[base%d];\n", base, in, c.x, c.y, base+1)
			base++
		}
	}
	fmt.Fprintf(&g, "[base%d]fps=%d,format=yuv420p[vout];\n", base, cfg.FPS)

	if len(audioFiles) == 0 {
		fmt.Fprintf(&g, "anullsrc=r=48000:cl=stereo,atrim=duration=%.3f[aout]", p.duration)
		return p.finish(&g), nil
	}
	var mix strings.Builder
	for _, f := range audioFiles {
		in := len(p.inputs)
		p.inputs = append(p.inputs, filepath.Join(dir, filepath.Base(f.Name)))
		p.video = append(p.video, false)
		// Placed at its offset; silence before it and in its gaps.
		fmt.Fprintf(&g, "[%d:a]asetpts=PTS-STARTPTS+%.3f/TB,aresample=48000:async=1:first_pts=0,"+
			"aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo[a%d];\n", in, float64(f.StartMs)/1000, in)
		fmt.Fprintf(&mix, "[a%d]", in)
	}
	fmt.Fprintf(&g, "%samix=inputs=%d:duration=longest:dropout_transition=0:normalize=0,alimiter=limit=0.95,"+
		"apad=whole_dur=%.3f,atrim=duration=%.3f[aout]", mix.String(), len(audioFiles), p.duration, p.duration)
	return p.finish(&g), nil
}

func (p *plan) finish(g *strings.Builder) *plan {
	p.graph = g.String()
	return p
}

// args is ffmpeg's command line for the plan, the graph read from
// script, writing out.
func (p *plan) args(cfg *Config, script, out string) []string {
	a := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"}
	if cfg.Threads > 0 {
		a = append(a, "-filter_complex_threads", fmt.Sprint(cfg.Threads))
	}
	for i, in := range p.inputs {
		if p.video[i] {
			// A layer switch changes the size mid-file: let scale follow it
			// rather than rebuild the graph (which would restart the canvas).
			a = append(a, "-reinit_filter", "0")
		}
		a = append(a, "-i", in)
	}
	a = append(a, "-filter_complex_script", script, "-map", "[vout]", "-map", "[aout]",
		"-c:v", "libx264", "-preset", cfg.Preset, "-crf", fmt.Sprint(cfg.CRF), "-pix_fmt", "yuv420p",
		"-profile:v", "high", "-g", fmt.Sprint(2*cfg.FPS),
		"-c:a", "aac", "-b:a", cfg.AudioBitrate, "-ar", "48000", "-ac", "2",
		"-movflags", "+faststart", "-t", fmt.Sprintf("%.3f", p.duration))
	if cfg.Threads > 0 {
		a = append(a, "-threads", fmt.Sprint(cfg.Threads))
	}
	return append(a, "-f", "mp4", out)
}
