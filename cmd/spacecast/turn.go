package main

import (
	"context"
	"errors"
)

// runTurn is a placeholder until the turn role lands.
func runTurn(_ context.Context, _ env, _ []string) error {
	return errors.New("not built yet")
}
