package controlplane

import (
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

// TestNoSecretLogged: with debug access logging on, a whole flow leaves no
// secret, token or password in the log, while requests are logged.
func TestNoSecretLogged(t *testing.T) {
	var buf syncBuffer
	e := start(t, envOpts{logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	w := e.buildWorld(t, "alpha")
	link := e.must(t, 200, "POST", "/v1/spaces/"+w.space+"/rooms/"+w.room+"/generate-access", w.owner.userToken,
		map[string]any{"username": "g", "role": "user"}).str(t, "url")
	u, _ := url.Parse(link)
	tok := u.Query().Get("accessToken")
	ans := e.must(t, 200, "POST", "/v1/rooms/"+w.alias+"/join", "", map[string]any{"accessToken": tok}).json(t)
	e.must(t, 404, "GET", "/v1/spaces/ffffffffffffffffffffffff?accessToken="+tok, w.owner.userToken, nil)
	log := buf.String()
	if !strings.Contains(log, "/v1/rooms/"+w.alias+"/join") {
		t.Fatalf("requests are not logged at debug:\n%s", log)
	}
	for name, secret := range map[string]string{"client secret": w.owner.secret, "client token": w.owner.clientToken,
		"user token": w.owner.userToken, "password": w.owner.password, "link token": tok,
		"media token": ans["mediaToken"].(string), "session": ans["session"].(map[string]any)["token"].(string)} {
		if strings.Contains(log, secret) {
			t.Errorf("the log contains the %s", name)
		}
	}
}
