// Package record writes the published tracks of a room to files as the
// edge receives them: one WebM file per track for VP8, VP9 and Opus (and
// Opus carried in RED, RFC 2198: its primary encoding), one Matroska file
// per track for H.264, and a JSON manifest (manifest.json) beside them that
// lists the participants, the tracks, each file's start offset on the
// recording's timeline and how the recording ended.
//
// A Recording is one recording of one room. The room hands it each
// published track (AddTrack) and gets back a Track, the tap the track's
// layer readers feed: RTP with every packet of every simulcast layer as it
// arrived, SenderReport with the publisher's RTCP sender reports. Both
// copy what they are given into the track's fixed pool of packet slots
// and return at once; a full pool drops and counts. Recording.Run, one
// goroutine per recording, does the rest:
//
//   - reorders and depacketizes each layer with pion's samplebuilder
//     (pion/rtp's VP8, VP9, H.264 and Opus depacketizers);
//   - records the best layer received and changes layer only at a
//     keyframe of the new one; after a loss it drops the video until the
//     next keyframe (and asks for one), so a file never carries a frame
//     its decoder cannot rebuild;
//   - times every frame on the recording's wall-clock timeline through the
//     sender reports (RFC 3550 §6.4.1): a frame's RTP timestamp becomes the
//     publisher's NTP time through its stream's latest report, and each
//     publisher's NTP clock is pinned to the edge's clock once, when its
//     first report arrives. All tracks of one publisher therefore keep the
//     lip sync its reports state, and the tracks of several publishers line
//     up within the difference of their network delays. Frames wait (at
//     most Config.ReportWait) for their stream's first report; a stream
//     that sends none is timed by arrival;
//   - survives a publisher's reconnect: a track added again by the same
//     participant for the same source (camera, microphone, ...) continues
//     the same file at the right offset (a codec change starts a new file,
//     listed in the manifest as a further segment of the track), and a
//     layer whose SSRC changes is taken as a new stream.
//
// Memory is bounded per track: the packet pool (Config.VideoPackets,
// Config.AudioPackets slots of 1500 bytes), one or two samplebuilders per
// video track (pion's index of 65,536 packet pointers each, 1 MiB) and the
// frames waiting for a first sender report (at most Config.ReportWait and
// maxWaitBytes).
//
// A write error (disk full, a file that cannot be created) ends the whole
// recording as failed: Run closes every file so what was written stays
// playable, writes the manifest with the reason and returns an error
// wrapping ErrWrite. Files are written through an FS, the operating
// system's by default.
//
// Threading: Track.RTP, Track.SenderReport and Track.Close may be called
// from any goroutine and never block. AddTrack, Stop and Manifest may be
// called from any goroutine. TrackInfo.RequestKeyframe is called from
// Run's goroutine and must not block.
package record
