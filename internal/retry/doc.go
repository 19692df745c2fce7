// Package retry holds the two pieces every retry loop here needs: a
// jittered exponential backoff and a sleep that a context cuts short. The
// webhook deliverer and the edge's event reporter use them.
package retry
