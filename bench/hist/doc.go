// Package hist is a latency histogram with HdrHistogram-style logarithmic
// buckets: 64 linear sub-buckets per power of two, so every recorded value
// is kept within 1.6% of its true value whatever its magnitude, in a fixed
// amount of memory. One Histogram belongs to one goroutine; load workers keep
// their own and Merge them at the end.
package hist
