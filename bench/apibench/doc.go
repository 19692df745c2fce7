// Package apibench is the api scenario of `spacecast bench`: it drives a
// control plane's REST API with concurrent connections (fasthttp client)
// and measures token issue, the authenticated GET of a room, room creation,
// generate-access and the single-use join, checking that every link is
// redeemed exactly once. In the same run it loads a bare fasthttp handler
// that answers a fixed 200 (this machine's limit) and reports the GET's
// throughput as a ratio of it, then sweeps the GET's offered rate to find
// its maximum and the p99 at half of it.
package apibench
