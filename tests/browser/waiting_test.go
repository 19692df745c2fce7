package browser

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWaitingRoom drives the waiting room in one Chromium, one room for
// every step: a guest waits (and a reload of its waiting screen keeps its
// place); the moderator's page lists it; admitting it lets it into the
// call with video both ways; a refused guest sees why and cannot come back
// with the same link; once the room makes nobody wait, a guest joins at
// once.
func TestWaitingRoom(t *testing.T) {
	chromium := needDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	s := startStack(t, ctx)
	d := s.startDriver(t, ctx, chromium, "chromium")

	room := s.room(t, map[string]any{"name": "Office hours", "isPublic": false, "type": "lesson", "waitingRoomAudience": "guests"})
	ann := d.open(t, "ann", probeURL(s.link(t, room, "Ann Lee", "moderator")), 1280, 800)
	ann.until(t, ctx, "joined as the moderator", func(st state) bool { return st.Screen == "call" && st.ToolbarReady && st.Camera })

	t.Run("admitted", func(t *testing.T) {
		ben := d.open(t, "ben", probeURL(s.link(t, room, "Ben Ortiz", "user")), 1280, 800)
		ben.until(t, ctx, "waited", func(st state) bool { return st.Screen == "waiting" })
		ann.until(t, ctx, "listed Ben", func(st state) bool { return slices.Equal(st.Lobby, []string{"Ben Ortiz"}) })
		ben.shot(t, "waiting")
		ann.shot(t, "lobby")
		// A reload of the waiting screen keeps the place.
		ben.op(t, "reload")
		ben.until(t, ctx, "waited again after a reload", func(st state) bool { return st.Screen == "waiting" })
		ann.until(t, ctx, "still listed Ben once", func(st state) bool { return slices.Equal(st.Lobby, []string{"Ben Ortiz"}) })

		ann.click(t, "#lobby-list li [data-action=admit]")
		ben.until(t, ctx, "joined and decoded Ann's video", func(st state) bool {
			return st.Screen == "call" && st.ToolbarReady && st.FramesDecoded > 0
		})
		ann.until(t, ctx, "decoded Ben's video", func(st state) bool { return st.Tiles == 2 && st.FramesDecoded > 0 })
		ann.until(t, ctx, "emptied the list", func(st state) bool { return len(st.Lobby) == 0 })
		var hidden bool
		ann.eval(t, `document.querySelector('#lobby').hidden`, &hidden)
		if !hidden {
			t.Error("the waiting list stays open with nobody waiting")
		}
		ben.shot(t, "admitted")
		ben.op(t, "close")
		ann.until(t, ctx, "saw Ben go", func(st state) bool { return st.Tiles == 1 })
	})

	t.Run("refused", func(t *testing.T) {
		link := probeURL(s.link(t, room, "Cat Nguyen", "user"))
		cat := d.open(t, "cat", link, 1280, 800)
		cat.until(t, ctx, "waited", func(st state) bool { return st.Screen == "waiting" })
		ann.until(t, ctx, "listed Cat", func(st state) bool { return slices.Equal(st.Lobby, []string{"Cat Nguyen"}) })
		const reason = "This call is for the design team only"
		ann.op(t, "fill", "selector", "#lobby-reason", "text", reason)
		ann.click(t, "#lobby-list li [data-action=refuse]")
		st := cat.until(t, ctx, "was told", func(st state) bool { return st.Screen == "notice" })
		var text string
		cat.eval(t, `document.querySelector('#notice').innerText`, &text)
		if st.Code != "waiting_refused" || !strings.Contains(text, reason) {
			t.Fatalf("the refused guest sees %q (%s), want the reason", text, st.Code)
		}
		cat.shot(t, "refused")
		cat.op(t, "close")
		ann.until(t, ctx, "emptied the list", func(st state) bool { return len(st.Lobby) == 0 })

		again := d.open(t, "cat-again", link, 1280, 800)
		st = again.until(t, ctx, "was told", func(st state) bool { return st.Screen == "notice" || st.Screen == "waiting" || st.Screen == "call" })
		again.eval(t, `document.querySelector('#notice').innerText`, &text)
		if st.Screen != "notice" || st.Code != "waiting_refused" || !strings.Contains(text, reason) {
			t.Fatalf("the refused link again: %+v %q", st, text)
		}
		again.op(t, "close")
	})

	t.Run("nobody waits", func(t *testing.T) {
		s.call(t, "PUT", "/spaces/"+s.space+"/rooms/"+room, map[string]any{"waitingRoomAudience": "nobody"}, nil)
		dan := d.open(t, "dan", probeURL(s.link(t, room, "Dan Ruiz", "user")), 1280, 800)
		st := dan.until(t, ctx, "joined", func(st state) bool { return st.Screen == "call" || st.Screen == "waiting" || st.Screen == "notice" })
		if st.Screen != "call" {
			t.Fatalf("a guest in a room where nobody waits: %+v", st)
		}
		dan.until(t, ctx, "decoded Ann's video", func(st state) bool { return st.FramesDecoded > 0 })
		dan.op(t, "close")
	})
}
