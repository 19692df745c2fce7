// Package compare sets a run beside an earlier one (--compare
// baseline.json): for every metric both results hold it prints the two
// values and their ratio, and says whether the change is better or worse
// given the metric's unit (lower is better for latencies and loss, higher
// for rates).
package compare
