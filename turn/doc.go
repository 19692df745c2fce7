// Package turn is Spacecast's built-in TURN/STUN server on pion/turn, started
// by every edge and by spacecast dev, and runnable alone. It also owns the
// TURN REST API credential scheme (time-limited HMAC credentials derived from
// a shared cluster secret) that control planes and edges use to hand
// credentials to participants.
package turn
