// Package nack decides which lost packets the edge asks a publisher for, and
// when (the receive side of RFC 4585 §6.2.1 Generic NACK, what libwebrtc
// calls a NACK requester). A Requester follows one received RTP stream: each
// arriving sequence number, media or repaired (pion hands RTX packets over
// unwrapped), clears it from the missing list, and a jump opens entries for
// the numbers skipped. Due lists the entries to ask for now: at once when
// first missed, then again every interval (at least the round-trip time)
// until they arrive, are asked for too often, or grow too old. A gap too
// large to repair is reported so the caller asks for a keyframe instead.
//
// pion's NACK generator interceptor cannot serve here: it never sees the
// packets repaired on an RTX stream, so it would ask for them again and
// again. A Requester belongs to the goroutine that reads its stream; it
// takes no lock and allocates nothing after New.
package nack
