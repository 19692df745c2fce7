// Package clientip finds the address a request came from: the TCP peer,
// or, when the peer is a configured trusted proxy, the address that proxy
// reports in the one header the deployment configures: Forwarded (RFC 7239)
// or X-Forwarded-For. Only hops through trusted proxies are believed, and
// only in that header (a proxy that sets X-Forwarded-For passes a
// client's own Forwarded through untouched), so a client cannot choose its
// own address (and its rate-limit bucket) by sending these headers itself.
package clientip
