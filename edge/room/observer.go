package room

import "github.com/livekit/protocol/livekit"

// Observer hears what happens in the edge's rooms (for webhooks, the room
// directory, metrics). Its methods are called from the edge's goroutines,
// possibly concurrently, never while a lock is held, and must not block:
// hand the event to a queue of your own. The protos are snapshots the
// observer may keep but must not modify.
type Observer interface {
	RoomStarted(room *livekit.Room)
	RoomFinished(room *livekit.Room)
	ParticipantJoined(room *livekit.Room, p *livekit.ParticipantInfo)
	ParticipantLeft(room *livekit.Room, p *livekit.ParticipantInfo, reason livekit.DisconnectReason)
	TrackPublished(room *livekit.Room, p *livekit.ParticipantInfo, t *livekit.TrackInfo)
	TrackUnpublished(room *livekit.Room, p *livekit.ParticipantInfo, t *livekit.TrackInfo)
}

// NopObserver ignores everything; embed it to implement part of Observer.
type NopObserver struct{}

func (NopObserver) RoomStarted(*livekit.Room)                                 {}
func (NopObserver) RoomFinished(*livekit.Room)                                {}
func (NopObserver) ParticipantJoined(*livekit.Room, *livekit.ParticipantInfo) {}
func (NopObserver) ParticipantLeft(*livekit.Room, *livekit.ParticipantInfo, livekit.DisconnectReason) {
}
func (NopObserver) TrackPublished(*livekit.Room, *livekit.ParticipantInfo, *livekit.TrackInfo)   {}
func (NopObserver) TrackUnpublished(*livekit.Room, *livekit.ParticipantInfo, *livekit.TrackInfo) {}
