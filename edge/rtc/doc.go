// Package rtc builds the edge's pion APIs and holds its SDP and codec
// policy: the MediaEngine (the codecs the edge negotiates, each video codec
// with RTX, the header extensions), the interceptors of publisher and
// subscriber connections (receiver reports and transport-cc feedback to
// publishers; none for subscribers, whose transport-cc the edge handles
// itself), the SettingEngine over the edge's one UDP mux (and TCP mux),
// the per-connection APIs that report a sending connection's DTLS keys to
// edge/srtpout and its transport-cc feedback to the caller (feedback.go),
// and the answer/offer codec choices (the codec a publisher
// asked for first, the offered RTX kept, a subscriber offered its track's
// codec).
package rtc
