package main

import (
	"context"
	"errors"
)

// runBench is a placeholder until the bench role lands.
func runBench(_ context.Context, _ env, _ []string) error {
	return errors.New("not built yet")
}
