package main

import (
	"context"
	"errors"
)

// runDev is a placeholder until the dev role lands.
func runDev(_ context.Context, _ env, _ []string) error {
	return errors.New("not built yet")
}
