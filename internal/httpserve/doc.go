// Package httpserve runs a net/http handler on a listener for as long as a
// context lives, then shuts it down gracefully: the one way the edge's
// signalling server and the metrics endpoints are served.
package httpserve
