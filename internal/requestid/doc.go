// Package requestid is the request id that ties an operator's log lines of
// one request together across components: the control plane accepts it
// from a client's X-Request-Id (when it is safe to log) or makes one,
// answers it in the same header, and carries a join's into the media
// token it mints (the claim Claim), from which the edge logs it when the
// participant connects. Neither component imports the other for it.
package requestid
