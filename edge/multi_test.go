package edge

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
)

// helperMulti connects SC_COUNT subscribers with the tokens in SC_TOKENS
// (comma separated) from one process, counts the RTP packets they receive,
// prints {"ev":"connected"} once all are in and a report on the first line
// read from stdin (or EOF).
func helperMulti() int {
	out := json.NewEncoder(os.Stdout)
	var tokens []string
	if err := json.Unmarshal([]byte(os.Getenv("SC_TOKENS")), &tokens); err != nil {
		_ = out.Encode(event{Ev: "error", Msg: err.Error()})
		return 1
	}
	var packets atomic.Int64
	var firstMu sync.Mutex
	var firsts []int64 // ms from connect start to the first RTP packet
	var rooms []*lksdk.Room
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(tokens))
	for _, tok := range tokens {
		wg.Add(1)
		go func(tok string) {
			defer wg.Done()
			start := time.Now()
			var first sync.Once
			cb := lksdk.NewRoomCallback()
			cb.OnTrackSubscribed = func(track *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
				go func() {
					buf := make([]byte, 1500)
					for {
						if _, _, err := track.Read(buf); err != nil {
							return
						}
						first.Do(func() {
							firstMu.Lock()
							firsts = append(firsts, time.Since(start).Milliseconds())
							firstMu.Unlock()
						})
						packets.Add(1)
					}
				}()
			}
			r, err := lksdk.ConnectToRoomWithToken(os.Getenv("SC_URL"), tok, cb, lksdk.WithAutoSubscribe(true))
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			rooms = append(rooms, r)
			mu.Unlock()
		}(tok)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		_ = out.Encode(event{Ev: "error", Msg: err.Error()})
	}
	_ = out.Encode(event{Ev: "connected", Msg: strconv.Itoa(len(rooms))})
	_, _ = os.Stdin.Read(make([]byte, 64)) // any command (or EOF) ends the run
	firstMu.Lock()
	fj, _ := json.Marshal(firsts)
	firstMu.Unlock()
	_ = out.Encode(event{Ev: "report", Msg: fmt.Sprint(packets.Load()), Payload: string(fj)})
	for _, r := range rooms {
		r.Disconnect()
	}
	return 0
}
