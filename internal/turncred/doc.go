// Package turncred is the TURN REST API credential scheme
// (draft-uberti-behave-turn-rest-00) and the ICE server entry that hands
// such a credential to a client. It is the contract between whoever mints
// credentials (the control plane's join, an edge's signalling) and the TURN
// servers that accept them (package turn), so that none of them imports
// another.
//
// A credential is time-limited and stateless: the username is
// "<expiry unix seconds>:<identity>" and the password
// base64(HMAC-SHA1(secret, username)), where secret is a TURN secret the
// cluster shares. A server that knows the secret verifies it without any
// per-user state and refuses it after its expiry; rotating secrets means
// verifying against each of them (Verify takes several).
package turncred
