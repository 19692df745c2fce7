package browser

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRoomPage drives one Chromium (playwright-core) through what
// participants do, sharing one room between the steps: two generate-access
// participants decode each other's video; chat over data packets; a raised
// hand; a screen share; the moderator mutes a participant; the network
// drops and comes back; the moderator removes a participant, who cannot
// come back with the link; a spent link; a webinar viewer who has no
// publish controls and whom the edge does not let publish. Screenshots of
// each step are saved as test artifacts.
func TestRoomPage(t *testing.T) {
	chromium := needDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Second)
	defer cancel()
	s := startStack(t, ctx)
	d := s.startDriver(t, ctx, chromium, "chromium")

	room := s.room(t, map[string]any{"name": "Design review", "isPublic": false, "type": "lesson", "isChatAllowed": true, "isScreensharingAllowed": true,
		"isRecordAllowed": true})
	annLink := s.link(t, room, "Ann Lee", "moderator")
	benLink := s.link(t, room, "Ben Ortiz", "user")

	pre := d.open(t, "prejoin", s.link(t, room, "Cat", "user"), 1280, 800)
	pre.until(t, ctx, "showed the pre-join step", func(st state) bool { return st.Screen == "prejoin" })
	var previewing bool
	pre.eval(t, `new Promise((r) => { const v = document.querySelector('#preview'); const ok = () => v.videoWidth > 0; if (ok()) r(true); else v.addEventListener('loadeddata', () => r(ok()), { once: true }); })`, &previewing)
	if !previewing {
		t.Error("the pre-join step shows no camera preview")
	}
	pre.shot(t, "prejoin")
	pre.op(t, "viewport", "width", 390, "height", 844)
	pre.shot(t, "prejoin-phone")
	pre.op(t, "close")

	ann := d.open(t, "ann", probeURL(annLink), 1280, 800)
	ben := d.open(t, "ben", probeURL(benLink), 1280, 800)
	decoding := func(st state) bool { return st.Screen == "call" && st.ToolbarReady && st.FramesDecoded > 0 }
	sa := ann.until(t, ctx, "decoded Ben's video", decoding)
	sb := ben.until(t, ctx, "decoded Ann's video", decoding)
	if sa.PublishControls == 0 || sb.PublishControls == 0 {
		t.Errorf("participants lack publish controls: ann %+v ben %+v", sa, sb)
	}
	if sa.ModeratorControls != 1 || sb.ModeratorControls != 0 {
		t.Errorf("moderator controls: moderator Ann sees %d, user Ben sees %d; want 1 and 0", sa.ModeratorControls, sb.ModeratorControls)
	}
	for name, st := range map[string]state{"ann": sa, "ben": sb} {
		if st.LoadToJoinedMs != nil && st.NavToJoinedMs != nil {
			t.Logf("page load to joined: %s: script start %.0f ms, navigation start %.0f ms", name, *st.LoadToJoinedMs, *st.NavToJoinedMs)
		}
	}
	ann.shot(t, "call-two")

	t.Run("chat", func(t *testing.T) {
		ann.click(t, "#btn-chat")
		ann.op(t, "fill", "selector", "#chat-input", "text", "Hello Ben, can you see the slides?")
		ann.op(t, "press", "selector", "#chat-input", "key", "Enter")
		ben.until(t, ctx, "got Ann's message", func(st state) bool { return hasChat(st.Chat, "Ann Lee", "can you see the slides?") })
		var unread bool
		ben.eval(t, `document.querySelector('#btn-chat').classList.contains('unread')`, &unread)
		if !unread {
			t.Error("Ben's chat button does not show an unread message")
		}
		ben.click(t, "#btn-chat")
		ben.op(t, "fill", "selector", "#chat-input", "text", "Yes, all good.")
		ben.click(t, "#chat-form button[type=submit]")
		ann.until(t, ctx, "got Ben's answer", func(st state) bool { return hasChat(st.Chat, "Ben Ortiz", "Yes, all good.") })
		ann.shot(t, "chat")
		ann.click(t, "#chat-close")
		ben.click(t, "#chat-close")
	})

	t.Run("speaker layout", func(t *testing.T) {
		ann.click(t, "#btn-layout")
		ann.op(t, "wait", "js", `document.querySelector('#grid').dataset.layout === 'speaker' && !!document.querySelector('#grid .tile.stage:not(.local)')`, "timeout", 10000)
		ann.shot(t, "speaker-layout")
		ann.click(t, "#btn-layout")
		ann.op(t, "wait", "js", `document.querySelector('#grid').dataset.layout === 'grid' && !document.querySelector('#grid .tile.stage')`, "timeout", 10000)
	})

	t.Run("moderator records", func(t *testing.T) {
		// flagged polls the recording indicator of p until it shows want.
		flagged := func(p *page, want bool) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				var shown bool
				p.eval(t, `!document.querySelector('#rec').hidden`, &shown)
				if shown == want {
					return
				}
				if time.Now().After(deadline) {
					p.shot(t, "failed-recording-"+p.name)
					t.Fatalf("%s: the recording indicator never showed %v", p.name, want)
				}
				time.Sleep(200 * time.Millisecond) // polling the page
			}
		}
		var shown bool
		ben.eval(t, `!document.querySelector('#btn-record').hidden`, &shown)
		if shown {
			t.Error("a participant sees the recording button")
		}
		ann.click(t, "#btn-record")
		flagged(ann, true)
		flagged(ben, true)
		ben.shot(t, "recorded")
		ann.click(t, "#btn-record")
		flagged(ann, false)
		flagged(ben, false)
	})

	t.Run("raise hand", func(t *testing.T) {
		ben.click(t, "#btn-hand")
		ann.until(t, ctx, "saw Ben's hand", func(st state) bool { return st.HandsRaised == 1 })
		var who string
		ann.eval(t, `document.querySelector('#grid .tile.hand').getAttribute('aria-label')`, &who)
		if !strings.Contains(who, "Ben Ortiz") || !strings.Contains(who, "hand raised") {
			t.Errorf("the raised hand is on %q, want Ben's tile", who)
		}
		ann.shot(t, "hand")
		ben.click(t, "#btn-hand")
		ann.until(t, ctx, "saw Ben's hand go down", func(st state) bool { return st.HandsRaised == 0 })
	})

	t.Run("screen share", func(t *testing.T) {
		before := ben.state(t).FramesDecoded
		ann.click(t, "#btn-screen")
		ben.until(t, ctx, "showed Ann's screen", func(st state) bool { return st.ScreenTiles == 1 && st.FramesDecoded > before })
		var stage string
		ben.eval(t, `(document.querySelector('#grid .tile.stage') || {}).className || ''`, &stage)
		if !strings.Contains(stage, "screen-share") {
			t.Errorf("the shared screen is not on the stage: %q", stage)
		}
		ben.shot(t, "screen-share")
		ann.click(t, "#btn-screen")
		ben.until(t, ctx, "dropped Ann's screen", func(st state) bool { return st.ScreenTiles == 0 })
	})

	t.Run("phone width", func(t *testing.T) {
		cat := d.open(t, "cat", probeURL(s.link(t, room, "Cat Nguyen", "user")), 390, 844)
		cat.until(t, ctx, "joined on a phone", func(st state) bool { return st.Screen == "call" && st.Tiles == 3 && st.FramesDecoded > 0 })
		var overflow bool
		cat.eval(t, `document.documentElement.scrollWidth > innerWidth || [...document.querySelectorAll('footer .tool')].some((b) => !b.hidden && b.getBoundingClientRect().right > innerWidth)`, &overflow)
		if overflow {
			t.Error("the page is wider than a 390 px phone")
		}
		cat.shot(t, "phone")
		cat.click(t, "#btn-chat")
		var chatFits bool
		cat.eval(t, `(() => { const r = document.querySelector('#chat').getBoundingClientRect(); return r.width > 0 && r.right <= innerWidth && r.bottom <= innerHeight; })()`, &chatFits)
		if !chatFits {
			t.Error("the chat panel does not fit a 390 px phone")
		}
		cat.shot(t, "phone-chat")
		cat.click(t, "#chat-close")
		ann.until(t, ctx, "saw three tiles", func(st state) bool { return st.Tiles == 3 })
		ann.shot(t, "call-three")
		cat.click(t, "#btn-leave")
		cat.until(t, ctx, "left", func(st state) bool { return st.Screen == "ended" && st.Ended == "left" })
		cat.shot(t, "left")
		cat.op(t, "close")
		ann.until(t, ctx, "saw Cat leave", func(st state) bool { return st.Tiles == 2 })
	})

	t.Run("moderator mutes", func(t *testing.T) {
		ben.until(t, ctx, "had the microphone on", func(st state) bool { return st.Microphone })
		ann.hover(t, "#grid .tile:not(.local)")
		ann.click(t, "#grid .mod [data-action=mute]")
		ben.until(t, ctx, "was muted by the moderator", func(st state) bool { return !st.Microphone })
		var muted bool
		ann.eval(t, `!!document.querySelector('#grid .tile.person:not(.local).muted')`, &muted)
		if !muted {
			t.Error("Ann's page does not show Ben muted")
		}
	})

	t.Run("keyboard camera", func(t *testing.T) {
		ben.op(t, "press", "selector", "#btn-cam", "key", "Space")
		ben.until(t, ctx, "turned the camera off", func(st state) bool { return !st.Camera })
		var off bool
		ann.op(t, "wait", "js", `!!document.querySelector('#grid .tile.person:not(.local).video-off')`, "timeout", 20000)
		ann.eval(t, `!!document.querySelector('#grid .tile.person:not(.local).video-off .avatar')`, &off)
		if !off {
			t.Error("Ann's page shows no avatar for Ben's camera off")
		}
		ann.shot(t, "camera-off")
		ben.op(t, "press", "selector", "#btn-cam", "key", "Enter")
		ben.until(t, ctx, "turned the camera on", func(st state) bool { return st.Camera })
	})

	t.Run("reload", func(t *testing.T) {
		// The link is spent; the session credential brings Ben back.
		ben.op(t, "reload")
		ben.until(t, ctx, "came back after a reload", func(st state) bool { return st.Screen == "call" && st.Tiles == 2 && st.FramesDecoded > 0 })
		ann.until(t, ctx, "saw Ben back", func(st state) bool { return st.Tiles == 2 && st.FramesDecoded > 0 })
	})

	t.Run("network drop", func(t *testing.T) {
		// Every page of this browser loses the network until it notices.
		if err := s.host.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
		reconnected := false
		defer func() {
			if !reconnected {
				_ = s.host.Reconnect(context.Background())
			}
		}()
		ben.until(t, ctx, "said it is reconnecting", func(st state) bool { return strings.Contains(st.Status, "Reconnecting") })
		ben.shot(t, "reconnecting")
		if err := s.host.Reconnect(ctx); err != nil {
			t.Fatal(err)
		}
		reconnected = true
		before := ben.state(t).FramesDecoded
		ben.until(t, ctx, "came back to the call", func(st state) bool {
			return st.Screen == "call" && st.Status == "" && st.Connection == "connected" && st.Tiles == 2 && st.FramesDecoded > before
		})
		ann.until(t, ctx, "came back to the call", func(st state) bool {
			return st.Screen == "call" && st.Connection == "connected" && st.Tiles == 2
		})
	})

	t.Run("moderator removes", func(t *testing.T) {
		ann.hover(t, "#grid .tile:not(.local)")
		ann.click(t, "#grid .mod [data-action=remove]")
		ben.until(t, ctx, "was told it was removed", func(st state) bool { return st.Screen == "ended" && st.Ended == "removed" })
		ben.shot(t, "removed")
		ann.until(t, ctx, "saw Ben go", func(st state) bool { return st.Tiles == 1 })
		// The same link, in the same tab: spent, and the session is gone.
		ben.op(t, "reload")
		st := ben.until(t, ctx, "refused the spent link", func(st state) bool { return st.Screen == "notice" || st.Screen == "call" })
		if st.Screen != "notice" || st.Code != "access_link_used" {
			t.Fatalf("a removed participant reopened the link: %+v", st)
		}
	})

	t.Run("spent link", func(t *testing.T) {
		again := d.open(t, "again", probeURL(annLink), 1280, 800)
		st := again.until(t, ctx, "showed a notice", func(st state) bool { return st.Screen == "notice" })
		if st.Code != "access_link_used" {
			t.Fatalf("spent link: notice %q, want access_link_used", st.Code)
		}
		var text string
		again.eval(t, `document.querySelector('#notice').innerText`, &text)
		if !strings.Contains(text, "already used") {
			t.Errorf("used-link page says %q", text)
		}
		again.shot(t, "used-link")
		again.op(t, "close")
	})

	t.Run("name asked when the link has none", func(t *testing.T) {
		open := s.room(t, map[string]any{"name": "Open office", "isPublic": true, "type": "lesson"})
		u, err := url.Parse(s.link(t, open, "unused", "user"))
		if err != nil {
			t.Fatal(err)
		}
		guest := d.open(t, "guest", s.api+u.Path+"?probe=1", 1280, 800)
		guest.until(t, ctx, "asked for a name", func(st state) bool { return st.Screen == "prejoin" })
		var visible bool
		guest.eval(t, `!document.querySelector('#pre-name-row').hidden`, &visible)
		if !visible {
			t.Fatal("the pre-join step does not ask for a name")
		}
		guest.op(t, "fill", "selector", "#pre-name", "text", "Gus Guest")
		guest.shot(t, "prejoin-name")
		guest.click(t, "#pre-join-btn")
		guest.until(t, ctx, "joined as a guest", func(st state) bool { return st.Screen == "call" && st.ToolbarReady })
		var name string
		guest.eval(t, `document.querySelector('#grid .tile.local .name').textContent`, &name)
		if !strings.HasPrefix(name, "Gus Guest") {
			t.Errorf("the guest's tile says %q", name)
		}
		guest.op(t, "close")
	})

	t.Run("webinar viewer", func(t *testing.T) {
		web := s.room(t, map[string]any{"name": "Quarterly talk", "isPublic": false, "type": "webinar", "isChatAllowed": true})
		host := d.open(t, "host", probeURL(s.link(t, web, "Hana Host", "moderator")), 1280, 800)
		host.until(t, ctx, "joined", func(st state) bool { return st.Screen == "call" && st.Camera })
		vic := d.open(t, "viewer", probeURL(s.link(t, web, "Vic", "user")), 1280, 800)
		st := vic.until(t, ctx, "watched the host", func(st state) bool { return st.Screen == "call" && st.ToolbarReady && st.FramesDecoded > 0 })
		if st.Role != "viewer" || st.PublishControls != 0 {
			t.Fatalf("webinar viewer: role %q, %d publish controls", st.Role, st.PublishControls)
		}
		if st.Tiles != 1 {
			t.Errorf("the viewer sees %d tiles, want the host's only", st.Tiles)
		}
		vic.shot(t, "webinar-viewer")
		var try struct {
			Published bool   `json:"published"`
			Error     string `json:"error"`
		}
		vic.eval(t, `window.__spacecast.tryPublish()`, &try)
		if try.Published {
			t.Fatal("a webinar viewer published a microphone")
		}
		t.Logf("viewer's publish attempt: %s", try.Error)
		if hs := host.state(t); hs.RemoteTracks != 0 {
			t.Fatalf("the host receives %d tracks from the viewer", hs.RemoteTracks)
		}
	})
}

func hasChat(lines []string, who, text string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, who) && strings.Contains(l, text) })
}
