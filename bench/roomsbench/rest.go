package roomsbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spacecast/spacecast/bench/participant"
)

// rest is the integrator's side: a few calls to the REST API.
type rest struct {
	base  string
	http  *http.Client
	token string
}

func (r *rest) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(r.base, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// benchRooms are the rooms a run made, and the REST client of their
// owner.
type benchRooms struct {
	rest  *rest
	space string
	ids   []string
}

// seats makes a user, a space, the rooms and one single-use link per
// participant, and returns the seats room by room.
func seats(ctx context.Context, c Config, base, clientID, secret string) ([]participant.Seat, *benchRooms, error) {
	r := &rest{base: base, http: &http.Client{Timeout: 30 * time.Second}}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := r.call(ctx, "POST", "/v1/auth/token", map[string]string{"grant_type": "client_credentials", "client_id": clientID, "client_secret": secret}, &tok); err != nil {
		return nil, nil, fmt.Errorf("roomsbench: client token: %w", err)
	}
	r.token = tok.AccessToken
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	email := "rooms-" + hex.EncodeToString(suffix) + "@bench.invalid"
	password := "bench-" + hex.EncodeToString(suffix)
	if err := r.call(ctx, "POST", "/v1/users", map[string]string{"email": email, "password": password, "username": "bench"}, nil); err != nil {
		return nil, nil, fmt.Errorf("roomsbench: user: %w", err)
	}
	if err := r.call(ctx, "POST", "/v1/auth/token", map[string]string{"grant_type": "password", "client_id": clientID, "client_secret": secret, "username": email, "password": password}, &tok); err != nil {
		return nil, nil, fmt.Errorf("roomsbench: user token: %w", err)
	}
	r.token = tok.AccessToken
	var id struct {
		ID    string `json:"id"`
		Alias string `json:"alias"`
	}
	if err := r.call(ctx, "POST", "/v1/spaces", map[string]any{"name": "bench rooms", "isPublic": false}, &id); err != nil {
		return nil, nil, fmt.Errorf("roomsbench: space: %w", err)
	}
	space := id.ID
	made := &benchRooms{rest: r, space: space}
	var out []participant.Seat
	for i := 0; i < c.Rooms; i++ {
		if err := r.call(ctx, "POST", "/v1/spaces/"+space+"/rooms", map[string]any{
			"name": fmt.Sprintf("bench room %d", i+1), "isPublic": false, "type": "lesson",
			"isCameraPublishingAllowed": true, "isMicrophonePublishingAllowed": true,
			"maxParticipants": c.Participants, "isRecordAllowed": c.Record,
		}, &id); err != nil {
			return nil, nil, fmt.Errorf("roomsbench: room: %w", err)
		}
		made.ids = append(made.ids, id.ID)
		for j := 0; j < c.Participants; j++ {
			var link struct {
				AccessToken string `json:"accessToken"`
			}
			name := fmt.Sprintf("r%d-p%d", i+1, j+1)
			if c.multiRegion() {
				reg, _ := c.regionOf(j)
				name = fmt.Sprintf("r%d-%s-p%d", i+1, reg, j+1)
			}
			if err := r.call(ctx, "POST", "/v1/spaces/"+space+"/rooms/"+id.ID+"/generate-access", map[string]any{"username": name, "role": "user", "externalUserId": name}, &link); err != nil {
				return nil, nil, fmt.Errorf("roomsbench: link: %w", err)
			}
			seat := participant.Seat{Alias: id.Alias, AccessToken: link.AccessToken, Name: name, Publish: j < c.Publishers}
			if c.multiRegion() {
				seat.Region, seat.Publish = c.regionOf(j)
				if c.Target == "" { // the links are the run's own: their round trips are known
					seat.RTTs = c.rtts(seat.Region)
				}
			}
			out = append(out, seat)
		}
	}
	return out, made, nil
}
