package edge

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"
)

// wrapJoin encodes a join request as livekit-client's /rtc/v1 does.
func wrapJoin(t *testing.T, jr *livekit.JoinRequest, gz bool) string {
	t.Helper()
	b, err := proto.Marshal(jr)
	if err != nil {
		t.Fatal(err)
	}
	w := &livekit.WrappedJoinRequest{JoinRequest: b}
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		w.JoinRequest, w.Compression = buf.Bytes(), livekit.WrappedJoinRequest_GZIP
	}
	raw, err := proto.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return base64.URLEncoding.EncodeToString(raw)
}

func TestJoinRequestDecoding(t *testing.T) {
	jr := &livekit.JoinRequest{ClientInfo: &livekit.ClientInfo{Sdk: livekit.ClientInfo_JS, Version: "2.23.0"},
		ConnectionSettings: &livekit.ConnectionSettings{AutoSubscribe: true}, Reconnect: true, ParticipantSid: "PA_x",
		PublisherOffer: &livekit.SessionDescription{Type: "offer", Sdp: "v=0\r\n"}}
	// A gzip bomb: far more than maxJoinRequest once decompressed.
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write(make([]byte, 4*maxJoinRequest))
	_ = zw.Close()
	bombRaw, _ := proto.Marshal(&livekit.WrappedJoinRequest{JoinRequest: bomb.Bytes(), Compression: livekit.WrappedJoinRequest_GZIP})
	tests := []struct {
		name  string
		param string
		ok    bool
	}{
		{"plain", wrapJoin(t, jr, false), true},
		{"gzip", wrapJoin(t, jr, true), true},
		{"unpadded", strings.TrimRight(wrapJoin(t, jr, true), "="), true},
		{"not base64", "!!!", false},
		{"not a wrapped request", base64.URLEncoding.EncodeToString([]byte{0xff, 0xff, 0xff}), false},
		{"gzip that is not", base64.URLEncoding.EncodeToString(func() []byte {
			b, _ := proto.Marshal(&livekit.WrappedJoinRequest{JoinRequest: []byte("plain"), Compression: livekit.WrappedJoinRequest_GZIP})
			return b
		}()), false},
		{"decompression bomb", base64.URLEncoding.EncodeToString(bombRaw), false},
		{"too long", strings.Repeat("A", maxJoinRequest+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/rtc/v1?join_request="+url.QueryEscape(tt.param), nil)
			got, err := joinRequest(r)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if !errors.Is(err, errJoinRequest) || httpStatus(err) != http.StatusBadRequest {
					t.Fatalf("err %v (status %d), want errJoinRequest and 400", err, httpStatus(err))
				}
				return
			}
			if !proto.Equal(got, jr) {
				t.Fatalf("decoded %v, want %v", got, jr)
			}
		})
	}
}

// /rtc/v1 joins on one peer connection: the join response makes no
// subscriber connection primary and no subscriber offer follows; a missing
// or malformed join request is a 400 that says so.
func TestV1Join(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	tok := f.token("ann", joinGrant("v1"), time.Minute)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	for _, q := range []string{"access_token=" + tok, "access_token=" + tok + "&join_request=%21"} {
		_, resp, err := d.Dial(f.url+"/rtc/v1?"+q, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("dial %q: %v (status %v), want 400", q, err, resp)
		}
	}
	jr := wrapJoin(t, &livekit.JoinRequest{ConnectionSettings: &livekit.ConnectionSettings{AutoSubscribe: true}}, true)
	ws, _, err := d.Dial(f.url+"/rtc/v1?access_token="+tok+"&join_request="+url.QueryEscape(jr), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &wsClient{t: t, ws: ws}
	t.Cleanup(func() { _ = ws.Close() })
	j := c.read().GetJoin()
	if j == nil || j.SubscriberPrimary || j.Participant.GetIdentity() != "ann" {
		t.Fatalf("join response %v: want ann's, with no subscriber connection primary", j)
	}
	_ = ws.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			break // nothing more: no subscriber offer on one connection
		}
		var m livekit.SignalResponse
		if proto.Unmarshal(b, &m) == nil && m.GetOffer() != nil {
			t.Fatal("the edge offered on a single connection, where the client offers")
		}
	}
}
