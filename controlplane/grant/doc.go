// Package grant turns a participant's role and a room's type and flags into
// the LiveKit grants an edge enforces, and mints the LiveKit media token
// that carries them (and the control plane's own RoomService token). It
// writes LiveKit's token format itself, with golang-jwt: the edges verify
// it with github.com/livekit/protocol/auth, which the control plane does
// not import, since that package pulls pion/webrtc into its build.
//
// The mapping:
//
//	role          canPublish / sources                         data      metadata       roomAdmin
//	owner         yes / camera, microphone, screen_share(+audio) yes      yes            yes
//	moderator     yes / camera, microphone, screen_share(+audio) yes      yes            yes
//	participant   from the flags (below)                         isChat   rename|hand    no
//	viewer        no / none (a webinar's audience)               isChat   rename|hand    no
//
// For a participant, isCameraPublishingAllowed → camera,
// isMicrophonePublishingAllowed → microphone, isScreensharingAllowed →
// screen_share, and isScreensharingAllowed with isScreenMediaPublishingAllowed
// → screen_share_audio; canPublish is true when any source is allowed.
// canUpdateOwnMetadata is isSelfRenamingAllowed or isHandRaisingAllowed
// (a raised hand is a metadata update). Everyone may subscribe; nobody is
// hidden.
package grant
