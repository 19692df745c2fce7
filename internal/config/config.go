package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid marks a configuration that cannot be used.
var ErrInvalid = errors.New("config: invalid")

// Load decodes the YAML file at path into dst, which the caller has filled
// with defaults. Keys that dst does not declare are an error.
func Load(path string, dst any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: read %s: %w", path, err)
	}
	if err := Decode(b, dst); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

// Decode decodes YAML bytes into dst strictly (unknown keys are an error).
// An empty document leaves dst as it is.
func Decode(b []byte, dst any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
