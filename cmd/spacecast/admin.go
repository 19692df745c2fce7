package main

import (
	"context"
	"errors"
)

// runAdmin is a placeholder until the admin role lands.
func runAdmin(_ context.Context, _ env, _ []string) error {
	return errors.New("not built yet")
}
