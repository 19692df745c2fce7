// Package ratelimit holds token buckets keyed by a string (an API client id,
// a source address). Memory is bounded: idle buckets (those that have
// refilled) are swept, and past the key cap an arbitrary bucket is evicted.
// It starts no goroutine; sweeping happens on Allow, at most once a second.
//
// With several control-plane replicas a limit must hold for the service,
// not per replica. A limiter made with NewShared keeps its buckets in the
// store every replica uses (store.RateLimits: the generic cell rate
// algorithm, one conditional upsert per decision), so the configured rate
// and burst are the service's. Its own local bucket, at the full rate,
// answers first: a request it refuses is refused without a store call (the
// shared bucket, which also counts the other replicas' requests, is emptier
// still), so a flood costs the store at most the rate of each replica.
//
// The error of the shared limit: it is exact with respect to the order in
// which the store serialises the decisions, except for the clocks of the
// replicas, which stamp the requests: a replica whose clock runs δ ahead of
// the others admits at most rate·δ more tokens than the limit (with NTP,
// δ is milliseconds: less than one token for every limit configured by
// default). When the store cannot answer, each replica falls back on its
// local bucket: the service then admits up to the number of replicas times
// the limit, until the store is back.
package ratelimit
