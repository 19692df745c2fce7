package turn

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"time"
)

// Credential makes a TURN REST API credential (draft-uberti-behave-turn-rest):
// the username is "<expiry unix seconds>:<identity>" and the password is
// base64(HMAC-SHA1(secret, username)). Servers that know the secret verify it
// without any per-user state; it is refused after expiry.
func Credential(secret, identity string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + identity
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
