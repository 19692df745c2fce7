package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

type createUserRequest struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
	Username *string `json:"username"`
	Phone    string  `json:"phone"`
}

func (q *createUserRequest) validate() (store.User, error) {
	var c check
	email := strings.TrimSpace(c.required("email", q.Email))
	password := c.required("password", q.Password)
	username := c.required("username", q.Username)
	if c.err == nil {
		c.email("email", email)
		if n := len(password); n < 8 || n > 256 {
			c.fail(invalid("invalid_value", "password", "password: must be 8 to 256 bytes long"))
		}
		c.length("username", username, 1, 100)
		c.length("phone", q.Phone, 0, 32)
	}
	return store.User{Email: email, Username: username, Phone: q.Phone, PasswordHash: password}, c.err
}

// userView is a user as the API shows it (never the password hash).
type userView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Username  string    `json:"username"`
	Phone     string    `json:"phone"`
	CreatedAt time.Time `json:"createdAt"`
}

// createUser: POST /v1/users, with a client token (as in the reference:
// the integrator's backend creates its users; a user cannot mint
// accounts), rate limited per client: each creation costs an argon2id hash.
func (a *API) createUser(r *request) error {
	p := r.caller
	if err := r.limit(a.o.CreateUserPerClient, "createUserPerClient", "c:"+string(p.Client), "user creations"); err != nil {
		return err
	}
	var q createUserRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	u, err := q.validate()
	if err != nil {
		return err
	}
	if u.PasswordHash, err = auth.HashPassword(u.PasswordHash); err != nil {
		return err
	}
	id, err := auth.RandomID()
	if err != nil {
		return err
	}
	u.ID, u.ClientID, u.CreatedAt = store.UserID(id), p.Client, r.now()
	if err := a.o.Store.CreateUser(r.context(), u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &Error{Status: http.StatusConflict, Code: "email_taken", Field: "email", Message: "email: a user with this e-mail already exists"}
		}
		return err
	}
	return r.json(http.StatusCreated, idOnly{ID: id})
}

// getMe: GET /v1/users/me, user token.
func (a *API) getMe(r *request) error {
	p := r.caller
	u, err := a.o.Store.GetUser(r.context(), p.Client, p.User)
	if err != nil {
		return access.About("user", "user", err)
	}
	return r.json(http.StatusOK, userView{ID: string(u.ID), Email: u.Email, Username: u.Username, Phone: u.Phone, CreatedAt: u.CreatedAt})
}

type createTokenRequest struct {
	Name *string `json:"name"`
	// ExpiresIn is the lifetime in seconds; absent or 0: no expiry.
	ExpiresIn int64 `json:"expiresIn"`
}

type personalTokenView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Token     string     `json:"token,omitempty"` // only in the create answer
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

// maxPersonalTokens caps the personal tokens of one user.
const maxPersonalTokens = 50

// createPersonalToken: POST /v1/users/me/tokens, user token. The token is
// shown once; only its hash is stored.
func (a *API) createPersonalToken(r *request) error {
	p := r.caller
	var q createTokenRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	var c check
	name := c.required("name", q.Name)
	c.length("name", name, 1, 100)
	c.between("expiresIn", q.ExpiresIn, 0, 10*365*86400)
	if c.err != nil {
		return c.err
	}
	existing, err := a.o.Store.ListPersonalTokens(r.context(), p.Client, p.User)
	if err != nil {
		return err
	}
	if len(existing) >= maxPersonalTokens {
		return invalid("too_many_tokens", "", "a user may hold at most 50 personal tokens; delete one first")
	}
	id, err := auth.RandomID()
	if err != nil {
		return err
	}
	secret, err := auth.RandomString(access.PersonalTokenPrefix, 32)
	if err != nil {
		return err
	}
	t := store.PersonalToken{ID: id, ClientID: p.Client, UserID: p.User, Name: name, TokenHash: auth.TokenHash(secret), CreatedAt: r.now()}
	if q.ExpiresIn > 0 {
		exp := r.now().Add(time.Duration(q.ExpiresIn) * time.Second)
		t.ExpiresAt = &exp
	}
	if err := a.o.Store.CreatePersonalToken(r.context(), t); err != nil {
		return err
	}
	return r.json(http.StatusCreated, personalTokenView{ID: id, Name: name, Token: secret, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt})
}

// listPersonalTokens: GET /v1/users/me/tokens, user token (no secrets).
func (a *API) listPersonalTokens(r *request) error {
	p := r.caller
	ts, err := a.o.Store.ListPersonalTokens(r.context(), p.Client, p.User)
	if err != nil {
		return err
	}
	out := list[personalTokenView]{Items: make([]personalTokenView, 0, len(ts)), Total: len(ts)}
	for _, t := range ts {
		out.Items = append(out.Items, personalTokenView{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt})
	}
	return r.json(http.StatusOK, out)
}

// deletePersonalToken: DELETE /v1/users/me/tokens/{tokenId}, user token.
func (a *API) deletePersonalToken(r *request) error {
	p := r.caller
	id, err := r.id(0, "tokenId")
	if err != nil {
		return err
	}
	if err := a.o.Store.DeletePersonalToken(r.context(), p.Client, p.User, id); err != nil {
		return access.About("personal token", "token", err)
	}
	return r.json(http.StatusOK, idOnly{ID: id})
}
