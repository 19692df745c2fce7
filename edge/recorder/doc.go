// Package recorder runs the recordings an edge makes of its rooms, from
// the moderator's start to the stored files: it makes an edge/record
// Recording for the room and hands it to the room (room.StartRecording:
// every track of the room, on whatever edge it is published, taps into
// it); when the recording ends (a stop, the end of the call, the room
// closing) it composes the call into one MP4 with edge/record/compose,
// stores the track files, the manifest and the MP4 in internal/blob, and
// reports each step to the control plane (internal/occupancy's
// RecordState, which edge/reporter sends: recording, processing, finished
// or failed).
//
// A failure ends the recording as failed and keeps what was written: a
// write error (disk full) ends the recording where it is; a composition
// error (ffmpeg) or an upload error still stores what can be stored, and
// the local folder stays when the upload failed. A recording the edge was
// making when it stopped without finishing it (killed, or the machine
// lost) is found in the recording folder when the edge runs again: its
// files are stored and it is reported failed. One goroutine per recording,
// owned by Run, which on its way out stops every recording and waits for
// their processing (at most ShutdownTimeout).
package recorder
