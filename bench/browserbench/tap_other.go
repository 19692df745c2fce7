//go:build !linux

package browserbench

import (
	"context"
	"errors"
	"fmt"
)

// errNoTap: the tap is an AF_PACKET socket, which only Linux has (as it
// alone has the network namespaces the bench runs in).
var errNoTap = fmt.Errorf("browserbench: tap: AF_PACKET sockets are Linux-only: %w", errors.ErrUnsupported)

func openTap(string, []*wire) (*tap, error) { return nil, errNoTap }

func (t *tap) run(context.Context) error { return errNoTap }
