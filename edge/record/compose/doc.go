// Package compose turns a finished recording (edge/record's files and
// manifest) into one MP4 a browser plays: H.264 video, the recording's
// video tracks laid out on one picture (a grid, or the screen share first),
// and AAC audio, every audio track mixed, each file placed at its start
// offset on the recording's timeline, the index at the front (faststart).
//
// The work is ffmpeg's (Debian's package): Compose plans the filter graph
// from the manifest and runs ffmpeg as a child process it owns, ended with
// the caller's context (and with this process); a failure carries
// ffmpeg's last lines of error output (FFmpegError).
package compose
