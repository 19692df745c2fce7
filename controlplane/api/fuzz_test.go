package api

import (
	"errors"
	"testing"

	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/waiting"
)

// Every request-body decoder must, on any input, either decode or return
// an *Error with a 4xx status; never panic.

func checkErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 || e.Code == "" || e.Message == "" {
		t.Fatalf("decoder error %v is not a 4xx *Error", err)
	}
}

func FuzzDecodeSpace(f *testing.F) {
	f.Add([]byte(`{"name":"a","isPublic":true,"description":"d","logo":"https://x/l.png","allowedOrigins":["https://a.b"]}`))
	f.Add([]byte(`{"name":5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var q spaceRequest
		err := decodeJSON(b, &q)
		if err == nil {
			var s store.Space
			err = q.apply(&s, true)
		}
		checkErr(t, err)
	})
}

func FuzzDecodeRoom(f *testing.F) {
	f.Add([]byte(`{"name":"r","type":"webinar","isChatAllowed":false,"maxParticipants":10,"waitingRoomAudience":"guests","redirectUrl":"https://x"}`))
	f.Add([]byte(`{"type":"party"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var q roomRequest
		err := decodeJSON(b, &q)
		if err == nil {
			rm := space.NewRoom()
			err = q.apply(&rm, true)
		}
		checkErr(t, err)
	})
}

func FuzzDecodeUser(f *testing.F) {
	f.Add([]byte(`{"email":"a@b.c","password":"12345678","username":"u","phone":"+1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var q createUserRequest
		err := decodeJSON(b, &q)
		if err == nil {
			_, err = q.validate()
		}
		checkErr(t, err)
	})
}

func FuzzDecodeJoin(f *testing.F) {
	f.Add([]byte(`{"accessToken":"a.b.c","participantName":"n","regionHint":"eu","rtts":{"eu":12,"us":90}}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"rtts":{"eu":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := decodeJoin(b)
		checkErr(t, err)
	})
}

func FuzzDecodeWaiting(f *testing.F) {
	f.Add([]byte(`{"ticket":"wt_abc","wait":15,"regionHint":"eu","rtts":{"eu":12}}`))
	f.Add([]byte(`{"ticket":"wt_abc","reconnect":true}`))
	f.Add([]byte(`{"reason":"Members only"}`))
	f.Add([]byte(`{"ticket":"","wait":-1}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, ticket, wait, err := decodeWait(b)
		checkErr(t, err)
		if err == nil && (ticket == "" || wait < 0 || wait > waiting.MaxPoll) {
			t.Fatalf("accepted %s: ticket %q, wait %v", b, ticket, wait)
		}
		ticket, _, err = decodeLeave(b)
		checkErr(t, err)
		if err == nil && ticket == "" {
			t.Fatalf("a leave without a ticket: %s", b)
		}
		_, err = decodeReason(b)
		checkErr(t, err)
	})
}

func FuzzDecodeMute(f *testing.F) {
	f.Add([]byte(`{"source":"microphone","muted":true}`))
	f.Add([]byte(`{"trackSid":"TR_abc","muted":false}`))
	f.Add([]byte(`{"trackSid":"TR_abc","source":"camera","muted":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodeMute(b)
		checkErr(t, err)
		if err == nil && (q.Muted == nil || (q.TrackSID == nil) == (q.Source == nil)) {
			t.Fatalf("accepted %s", b)
		}
	})
}

func FuzzDecodeToken(f *testing.F) {
	f.Add([]byte("application/json"), []byte(`{"grant_type":"password","client_id":"c","client_secret":"s","username":"u","password":"p"}`), []byte(""))
	f.Add([]byte("application/x-www-form-urlencoded"), []byte(`grant_type=refresh_token&refresh_token=x%20y`), []byte("Basic Yzpz"))
	f.Fuzz(func(t *testing.T, ct, body, basic []byte) {
		_, oerr := decodeTokenRequest(ct, body, basic)
		if oerr != nil && (oerr.Code == "" || oerr.Desc == "") {
			t.Fatalf("empty OAuth error %+v", oerr)
		}
	})
}

func FuzzDecodeSmall(f *testing.F) {
	f.Add([]byte(`{"username":"u","role":"user","ttl":60,"isPermanent":true,"email":"a@b.c"}`))
	f.Add([]byte(`{"targetUserId":"0123456789abcdef01234567","role":"role_room_user"}`))
	f.Add([]byte(`{"role":"role_space_user","ttl":3600}`))
	f.Add([]byte(`{"url":"https://x","isActive":false}`))
	f.Add([]byte(`{"origins":["https://*.x.y"]}`))
	f.Add([]byte(`{"name":"t","expiresIn":60}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ga generateAccessRequest
		checkErr(t, decodeJSON(b, &ga))
		var rr roleRequest
		checkErr(t, decodeJSON(b, &rr))
		var ir inviteRequest
		checkErr(t, decodeJSON(b, &ir))
		var wr webhookRequest
		checkErr(t, decodeJSON(b, &wr))
		var ob originsBody
		if checkErr(t, decodeJSON(b, &ob)); ob.Origins != nil {
			var c check
			c.origins(*ob.Origins)
			checkErr(t, c.err)
		}
		var tr createTokenRequest
		checkErr(t, decodeJSON(b, &tr))
	})
}
