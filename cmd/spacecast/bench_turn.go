package main

import (
	"context"
	"errors"
)

// runBenchTurn is a placeholder until the turn scenario lands.
func runBenchTurn(_ context.Context, _ env, _ []string) error {
	return errors.New("bench turn: not built yet")
}
