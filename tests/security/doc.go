// Package security holds the tests of issue 13's control-plane items: each
// drives the real control plane (controlplane.New over a SQLite store on
// 127.0.0.1:0, with the room page where it matters) the way an attacker or
// a careless integrator would, and checks that a promise holds: credentials
// that expire and stay revoked, permissions that stick, bounded resources,
// client addresses that cannot be forged. Each test is named after the
// behaviour it guarantees.
package security
