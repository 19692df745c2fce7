// Package record holds the end-to-end tests of call recording: a control
// plane and an edge, each a `spacecast` process in a network namespace of
// its own, and LiveKit Go SDK publishers (VP8 and Opus from test patterns
// that ffmpeg encodes) in a third. The tests drive what an integrator
// does through the REST API and check what they would get: the recorded
// track files and the composed MP4 (ffprobe and ffmpeg), the records list,
// the download link, the signed record_* webhooks; and what a failure
// leaves: a recording edge killed mid-call ends as record_failed, and its
// files are kept and stored when it comes back.
package record
