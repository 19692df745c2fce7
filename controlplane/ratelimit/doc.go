// Package ratelimit holds token buckets keyed by a string (an API client id,
// a source address). Memory is bounded: idle buckets (those that have
// refilled) are swept, and past the key cap an arbitrary bucket is evicted.
// It starts no goroutine; sweeping happens on Allow, at most once a second.
package ratelimit
