// Package gossipbench is the `spacecast bench gossip` scenario. Self-
// contained, it runs in-process gossip clusters of several sizes on
// 127.0.0.1 (port 0 each) and measures join convergence (until every
// member sees a new node), failure detection (until the first and every
// member declare a crashed node dead), idle bytes per node and false
// failure detections, against N. Against a running cluster it joins as an
// observer node (controlplane role, no addresses, so placement ignores it)
// and measures what one member can see: its own convergence, its idle
// traffic, and the join and crash of short-lived probe nodes. Both give a
// bench/result for the harness.
package gossipbench
