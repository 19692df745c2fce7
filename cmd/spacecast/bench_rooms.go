package main

import (
	"context"
	"errors"
)

// runBenchRooms is a placeholder until the rooms scenario lands.
func runBenchRooms(_ context.Context, _ env, _ []string) error {
	return errors.New("bench rooms: not built yet")
}
