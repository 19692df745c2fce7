// Package impair gives a network namespace's incoming UDP the delay, jitter
// and loss of a long or bad link, on a kernel without netem: delay and
// jitter by a userspace relay (TPROXY into a transparent socket that holds
// each datagram and sends it on with its original source), random loss by
// an iptables -m statistic rule. Either can be limited to datagrams from
// given source addresses, so that one namespace sees each of several
// "regions" behind a link of its own. The rules go away with the namespace.
//
// The bench scenarios that shape links use it: browserbench (a
// subscriber's downlink) and roomsbench (the links between regions).
package impair
