package record

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
)

// Matroska layout: clusters start at a keyframe of the file's one track
// once the current one is this long (video) ...
const (
	videoClusterMin = 1000 // ms
	audioClusterMin = 5000 // ms
	clusterMax      = 30000
	// ... and the index (Cues) goes into room reserved at the front of the
	// file; ebml-go thins it out if a long recording needs more.
	videoCuesSpace = 64 << 10
	audioCuesSpace = 16 << 10
)

// trackFile is one Matroska (WebM) file with one track, written through
// ebml-go's block writer. Timestamps are milliseconds on the recording's
// timeline; the file's own timeline starts at its first frame.
type trackFile struct {
	name  string
	out   *stickyFile
	w     webm.BlockWriteCloser
	first int64 // ms of the first frame
	last  int64 // ms of the newest frame
	n     uint64
	err   error // the first failure, once closed
	done  bool
}

// newTrackFile creates name and writes the header for entry. docType is
// "webm" or "matroska".
func newTrackFile(fs FS, name, docType string, entry webm.TrackEntry, start time.Time) (*trackFile, error) {
	f, err := fs.Create(name)
	if err != nil {
		return nil, fmt.Errorf("%w: create %s: %w", ErrWrite, name, err)
	}
	out := &stickyFile{f: f}
	header := *webm.DefaultEBMLHeader
	header.DocType = docType
	info := &webm.Info{TimecodeScale: 1e6, MuxingApp: "spacecast", WritingApp: "spacecast", DateUTC: start}
	minCluster, cues := int64(audioClusterMin), audioCuesSpace
	if entry.TrackType == 1 {
		minCluster, cues = videoClusterMin, videoCuesSpace
	}
	ws, err := webm.NewSimpleBlockWriter(out, []webm.TrackEntry{entry},
		mkvcore.WithEBMLHeader(&header),
		mkvcore.WithSegmentInfo(info),
		mkvcore.WithBlockInterceptor(nil), // one track: nothing to interleave
		mkvcore.WithSeekHead(true),
		mkvcore.WithCues(cues),
		mkvcore.WithMinMaxClusterDuration(entry.TrackNumber, minCluster, clusterMax),
		mkvcore.WithOnFatalHandler(out.fail),
	)
	if err == nil {
		err = out.failure()
	}
	if err != nil {
		if ws != nil {
			for _, w := range ws {
				_ = w.Close()
			}
		} else {
			_ = f.Close()
		}
		return nil, fmt.Errorf("%w: %s header: %w", ErrWrite, name, err)
	}
	return &trackFile{name: name, out: out, w: ws[0], first: -1}, nil
}

// write appends a frame at ms (not before the previous frame's).
func (t *trackFile) write(ms int64, key bool, frame []byte) error {
	if t.first < 0 {
		t.first = ms
	}
	t.last = ms
	t.n++
	if _, err := t.w.Write(key, ms, frame); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrWrite, t.name, err)
	}
	if err := t.out.failure(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrWrite, t.name, err)
	}
	return nil
}

// close ends the file (index and duration written into the header) and
// returns the first failure of its life.
func (t *trackFile) close() error {
	if t.done {
		return t.err
	}
	t.done = true
	_ = t.w.Close() // closes out too
	if err := t.out.failure(); err != nil {
		t.err = fmt.Errorf("%w: %s: %w", ErrWrite, t.name, err)
	}
	return t.err
}

// size is the number of bytes written so far.
func (t *trackFile) size() int64 { return t.out.size() }

// stickyFile keeps the first error of a File and, after it, drops what
// it is given while reporting success: ebml-go's writer goroutine never
// sees a failure (it cannot unwind from one), the recording sees the
// error after its next write and ends.
type stickyFile struct {
	f File

	mu      sync.Mutex
	err     error
	written int64
	closed  bool
}

func (s *stickyFile) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		n, err := s.f.Write(p)
		s.written += int64(n)
		if err == nil && n < len(p) {
			err = errors.New("short write")
		}
		s.err = err
	}
	return len(p), nil
}

func (s *stickyFile) WriteAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		_, s.err = s.f.WriteAt(p, off)
	}
	return len(p), nil
}

func (s *stickyFile) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.f.Close(); err != nil && s.err == nil {
		s.err = err
	}
	return nil
}

func (s *stickyFile) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *stickyFile) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *stickyFile) size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}
