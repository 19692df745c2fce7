package record

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FS is where a recording's files go.
type FS interface {
	// Create makes the new file name (a plain name, no directory) for
	// writing; it fails if the file exists.
	Create(name string) (File, error)
	// WriteFile replaces the file name with b, atomically (the manifest).
	WriteFile(name string, b []byte) error
}

// File is a file being written: appended to, and patched at offsets
// already written (the Matroska index and duration, when it is closed).
type File interface {
	io.Writer
	io.WriterAt
	io.Closer
}

// DirFS is an FS on the operating system's directory dir, made on first
// use.
func DirFS(dir string) FS { return dirFS(dir) }

type dirFS string

func (d dirFS) Create(name string) (File, error) {
	if err := d.mkdir(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(string(d), filepath.Base(name)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return f, nil
}

func (d dirFS) WriteFile(name string, b []byte) error {
	if err := d.mkdir(); err != nil {
		return err
	}
	path := filepath.Join(string(d), filepath.Base(name))
	tmp, err := os.CreateTemp(string(d), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return nil
}

func (d dirFS) mkdir() error {
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return nil
}
