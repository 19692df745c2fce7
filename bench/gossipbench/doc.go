// Package gossipbench is the `spacecast bench gossip` scenario: in-process
// gossip clusters of several sizes on 127.0.0.1 (port 0 each), measuring
// join convergence (p50/p99), failure-detection time, idle bytes per node
// and false failure detections, rendered as a text table, an SVG chart
// against N, and JSON.
package gossipbench
