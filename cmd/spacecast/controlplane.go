package main

import (
	"context"
	"errors"
)

// runControlplane is a placeholder until the controlplane role lands.
func runControlplane(_ context.Context, _ env, _ []string) error {
	return errors.New("not built yet")
}
