package main

import (
	"context"
	"errors"
)

// runEdge is a placeholder until the edge role lands.
func runEdge(_ context.Context, _ env, _ []string) error {
	return errors.New("not built yet")
}
