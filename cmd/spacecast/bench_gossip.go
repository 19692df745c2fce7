package main

import (
	"context"
	"errors"
)

// runBenchGossip is a placeholder until the gossip scenario lands.
func runBenchGossip(_ context.Context, _ env, _ []string) error {
	return errors.New("bench gossip: not built yet")
}
