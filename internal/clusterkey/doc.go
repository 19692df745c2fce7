// Package clusterkey holds the secrets that every node of one deployment
// shares: the LiveKit API keys that media tokens are signed with, the TURN
// REST secrets, and the gossip encryption keyring. They live in the
// `cluster:` section of every role's config file (the same section on every
// node), and can come from the environment instead of the file. Each list or
// map holds several entries so that a secret rotates without downtime: the
// primary one signs, every listed one verifies.
package clusterkey
