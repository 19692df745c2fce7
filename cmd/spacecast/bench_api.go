package main

import (
	"context"
	"errors"
)

// runBenchAPI is a placeholder until the api scenario lands.
func runBenchAPI(_ context.Context, _ env, _ []string) error {
	return errors.New("bench api: not built yet")
}
