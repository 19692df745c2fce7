package turncred

// ICEServer is one entry of the ICE servers a client is given (the shape
// of WebRTC's RTCIceServer): STUN/TURN URLs and, for TURN, a credential
// (Mint). Its JSON is the REST API's join answer's iceServers entry.
// LiveKit's signalling carries the same fields in its own protobuf
// message.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}
