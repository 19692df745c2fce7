package controlplane

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/store/postgres"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// replicas are two control planes on one PostgreSQL database, each with
// its own store (its own pool and change listener), sharing the cluster
// secrets: what two `spacecast controlplane` processes are.
func replicas(t *testing.T, mutate func(*Config)) (a, b *env) {
	t.Helper()
	dsn := pg.DB(t)
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	open := func() store.Store {
		s, err := postgres.Open(ctxT(t), postgres.Config{DSN: dsn, MaxConns: 16}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a = start(t, envOpts{store: open(), cluster: &cl, mutate: mutate})
	b = start(t, envOpts{store: open(), cluster: &cl, mutate: mutate})
	return a, b
}

// within polls check until it holds, failing the test after d.
func within(t *testing.T, d time.Duration, what string, check func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !check() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond) // polling
	}
	return time.Since(start)
}

func jwtKid(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

// TestReplicasOneTruth: two replicas on one database behave as one
// service. What one replica issues, the other honours; what one changes
// or revokes, the other enforces within a second, although each caches
// rooms and roles for far longer (the change notifications clear them);
// a single-use link redeemed concurrently through both has one winner;
// rate limits are the service's.
func TestReplicasOneTruth(t *testing.T) {
	a, b := replicas(t, func(c *Config) { c.ReadCacheTTL = time.Minute; c.KeyRefresh = time.Hour })
	cl := a.newClient(t, "acme")
	owner := a.newUser(t, cl, "owner@acme.test")
	ann := a.newUser(t, cl, "ann@acme.test")
	sp := a.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "S", "isPublic": true}).str(t, "id")
	rr := a.must(t, 201, "POST", "/v1/spaces/"+sp+"/rooms", owner.userToken, map[string]any{"name": "R", "isPublic": false}).json(t)
	room, alias := rr["id"].(string), rr["alias"].(string)
	roomPath := "/v1/spaces/" + sp + "/rooms/" + room

	t.Run("tokens of one verify on the other", func(t *testing.T) {
		b.must(t, 200, "GET", "/v1/users/me", ann.userToken, nil)
		r := b.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": cl.clientID, "client_secret": cl.secret})
		// Verified (an invalid token is 401): a client token may not read a
		// private room.
		a.must(t, 403, "GET", "/v1/spaces/room-by-alias/"+alias, r.str(t, "access_token"), nil)
	})

	t.Run("a link made on one joins through the other", func(t *testing.T) {
		tok := a.must(t, 200, "POST", roomPath+"/generate-access", owner.userToken, map[string]any{"username": "g", "role": "user"}).str(t, "accessToken")
		b.must(t, 200, "POST", "/v1/rooms/"+alias+"/join", "", map[string]any{"accessToken": tok})
		r := a.must(t, 410, "POST", "/v1/rooms/"+alias+"/join", "", map[string]any{"accessToken": tok})
		if r.str(t, "code") != "access_link_used" {
			t.Fatalf("second join: %s", r.body)
		}
	})

	t.Run("exactly once across replicas", func(t *testing.T) {
		tok := a.must(t, 200, "POST", roomPath+"/generate-access", owner.userToken, map[string]any{"username": "g", "role": "user"}).str(t, "accessToken")
		const n = 200
		statuses := make([]int, n)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-gate
				e := a
				if i%2 == 1 {
					e = b
				}
				statuses[i] = e.do(t, "POST", "/v1/rooms/"+alias+"/join", "", map[string]any{"accessToken": tok}).status
			})
		}
		close(gate)
		wg.Wait()
		var won, gone int
		for i, s := range statuses {
			switch s {
			case 200:
				won++
			case 410:
				gone++
			default:
				t.Fatalf("redeemer %d: %d", i, s)
			}
		}
		if won != 1 || gone != n-1 {
			t.Fatalf("%d won, %d got 410; want 1 and %d", won, gone, n-1)
		}
	})

	t.Run("a key rotated on one signs on the other", func(t *testing.T) {
		old := jwtKid(t, b.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": cl.clientID, "client_secret": cl.secret}).str(t, "access_token"))
		kid, err := a.srv.Keyring().Rotate(ctxT(t), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if kid == old {
			t.Fatal("rotation kept the key")
		}
		d := within(t, time.Second, "B signs with A's new key", func() bool {
			tok := b.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": cl.clientID, "client_secret": cl.secret}).str(t, "access_token")
			return jwtKid(t, tok) == kid
		})
		t.Logf("B signs with the new key %s after the rotation", d)
		// Tokens of the old key still verify on both (it verifies for an hour).
		a.must(t, 200, "GET", "/v1/users/me", ann.userToken, nil)
		b.must(t, 200, "GET", "/v1/users/me", ann.userToken, nil)
	})

	t.Run("role change", func(t *testing.T) {
		a.must(t, 200, "POST", roomPath+"/roles", owner.userToken, map[string]any{"targetUserId": ann.userID, "role": "role_room_moderator"})
		if role := b.must(t, 200, "GET", roomPath, ann.userToken, nil).str(t, "role"); role != "role_room_moderator" {
			t.Fatalf("B shows role %q", role)
		}
		a.must(t, 200, "POST", roomPath+"/roles", owner.userToken, map[string]any{"targetUserId": ann.userID, "role": "role_room_user"})
		within(t, time.Second, "B shows the new role", func() bool {
			return b.must(t, 200, "GET", roomPath, ann.userToken, nil).str(t, "role") == "role_room_user"
		})
		// A moderator's power goes with it on B.
		b.must(t, 403, "POST", roomPath+"/generate-access", ann.userToken, map[string]any{"username": "g", "role": "user"})
	})

	t.Run("removed participant", func(t *testing.T) {
		b.must(t, 200, "POST", "/v1/rooms/"+alias+"/join", ann.userToken, map[string]any{})
		// The removal is recorded before the edges are asked (none answers
		// in this test: 502).
		if r := a.do(t, "POST", roomPath+"/participants/u_"+ann.userID+"/remove", owner.userToken, nil); r.status != 200 && r.status != 502 {
			t.Fatalf("remove: %d %s", r.status, r.body)
		}
		within(t, time.Second, "B refuses the participant removed on A", func() bool {
			r := b.do(t, "POST", "/v1/rooms/"+alias+"/join", ann.userToken, map[string]any{})
			return r.status == 403 && r.str(t, "code") == "participant_removed"
		})
		b.must(t, 200, "POST", "/v1/rooms/"+alias+"/join", owner.userToken, map[string]any{})
	})

	t.Run("revoked token", func(t *testing.T) {
		tok := b.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "password", "client_id": cl.clientID,
			"client_secret": cl.secret, "username": ann.email, "password": ann.password}).str(t, "access_token")
		b.must(t, 200, "GET", "/v1/users/me", tok, nil)
		a.must(t, 200, "POST", "/v1/auth/revoke", "", map[string]string{"token": tok})
		within(t, time.Second, "B refuses the token revoked on A", func() bool {
			return b.do(t, "GET", "/v1/users/me", tok, nil).status == 401
		})
	})

	t.Run("rotated client secret", func(t *testing.T) {
		tok := b.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": cl.clientID, "client_secret": cl.secret}).str(t, "access_token")
		secret, err := RotateClientSecret(ctxT(t), a.st, store.ClientID(cl.clientID))
		if err != nil {
			t.Fatal(err)
		}
		within(t, time.Second, "B refuses the old client token", func() bool {
			return b.do(t, "GET", "/v1/spaces/room-by-alias/"+alias, tok, nil).status == 401
		})
		b.must(t, 401, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": cl.clientID, "client_secret": cl.secret})
		b.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": cl.clientID, "client_secret": secret})
		cl.secret = secret
		cl.clientToken = b.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": cl.clientID, "client_secret": secret}).str(t, "access_token")
	})

	t.Run("deleted room", func(t *testing.T) {
		created := a.must(t, 201, "POST", "/v1/spaces/"+sp+"/rooms", owner.userToken, map[string]any{"name": "R2", "isPublic": true}).json(t)
		r2, alias2 := created["id"].(string), created["alias"].(string)
		b.must(t, 200, "GET", "/v1/spaces/"+sp+"/rooms/"+r2, owner.userToken, nil)             // cached on B
		b.must(t, 200, "POST", "/v1/rooms/"+alias2+"/join", owner.userToken, map[string]any{}) // its alias too
		a.must(t, 200, "DELETE", "/v1/spaces/"+sp+"/rooms/"+r2, owner.userToken, nil)
		within(t, time.Second, "B forgets the room deleted on A", func() bool {
			return b.do(t, "GET", "/v1/spaces/"+sp+"/rooms/"+r2, owner.userToken, nil).status == 404 &&
				b.do(t, "POST", "/v1/rooms/"+alias2+"/join", owner.userToken, map[string]any{}).status == 404
		})
	})

	t.Run("deleted user", func(t *testing.T) {
		bob := a.newUser(t, cl, "bob@acme.test")
		b.must(t, 200, "GET", "/v1/users/me", bob.userToken, nil)
		a.must(t, 200, "DELETE", "/v1/users/"+bob.userID, cl.clientToken, nil)
		within(t, time.Second, "B refuses the deleted user's token", func() bool {
			return b.do(t, "GET", "/v1/users/me", bob.userToken, nil).status == 401
		})
	})

	t.Run("deleted space", func(t *testing.T) {
		b.must(t, 200, "GET", roomPath, owner.userToken, nil) // cached on B
		a.must(t, 200, "DELETE", "/v1/spaces/"+sp, owner.userToken, nil)
		within(t, time.Second, "B forgets the space deleted on A", func() bool {
			return b.do(t, "GET", roomPath, owner.userToken, nil).status == 404
		})
	})
}

// TestReplicasRateLimit: a limit holds for the service, not per replica:
// user creations through two replicas stop at the burst of one limit.
func TestReplicasRateLimit(t *testing.T) {
	a, b := replicas(t, func(c *Config) { c.RateLimit.CreateUserPerClient = Bucket{Rate: 0.01, Burst: 4} })
	cl := a.newClient(t, "acme")
	var created, limited int
	for i := range 12 {
		e := a
		if i%2 == 1 {
			e = b
		}
		r := e.do(t, "POST", "/v1/users", cl.clientToken, map[string]string{"email": "u" + string(rune('a'+i)) + "@acme.test", "password": "password-1234", "username": "u"})
		switch r.status {
		case 201:
			created++
		case 429:
			limited++
			if r.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("create user: %d %s", r.status, r.body)
		}
	}
	if created != 4 || limited != 8 {
		t.Fatalf("%d created, %d limited over two replicas; want the one burst of 4", created, limited)
	}
}
