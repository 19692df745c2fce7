//go:build !linux

package netns

import (
	"context"
	"errors"
	"testing"
)

// Off Linux nothing can be made, and every call says why: the system
// does not support it (so that tests needing namespaces skip, in CI too).
func TestUnsupportedOffLinux(t *testing.T) {
	if err := Available(); !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Available() = %v, want ErrUnavailable and ErrUnsupported", err)
	}
	if _, err := NewNetwork(context.Background()); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("NewNetwork: %v", err)
	}
	h := &Host{Name: "any"}
	if _, err := h.ListenTCP("127.0.0.1:0"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("ListenTCP: %v", err)
	}
}
