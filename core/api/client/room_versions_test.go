package client

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/config"
)

// TestLegacyRoomVersionsOverHTTP creates rooms of versions 1 and 2 through
// the client API and uses them the way a client would: the events that
// come back from /sync, /messages and /event carry the $<random>:<server>
// IDs that send, state and redact returned.
func TestLegacyRoomVersionsOverHTTP(t *testing.T) {
	forEachSyncDB(t, func(t *testing.T, e *syncEnv) {
		cfg := config.Defaults()
		RegisterRooms(e.rt, e.Rooms)
		RegisterServerInfo(e.rt, &ServerInfo{Config: &cfg})
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")

		caps := e.do("GET", "/_matrix/client/v3/capabilities", alice, nil).ok(t).Get(`capabilities.m\.room_versions`)
		for _, v := range []string{"1", "2", "3", "11"} {
			if got := caps.Get("available." + v).Str; got != "stable" {
				t.Errorf("capabilities: room version %s is %q, want stable (%s)", v, got, caps.Raw)
			}
		}
		if caps.Get("default").Str != "11" {
			t.Errorf("default room version = %s", caps.Get("default").Raw)
		}

		originID := regexp.MustCompile(`^\$[A-Za-z0-9]+:test\.local$`)
		for _, version := range []string{"1", "2"} {
			t.Run("v"+version, func(t *testing.T) {
				room := e.do("POST", "/_matrix/client/v3/createRoom", alice,
					map[string]any{"room_version": version, "invite": []string{bob.String()}, "name": "Old"}).ok(t).Get("room_id").Str
				e.do("POST", syncPath("/rooms/%s/join", room), bob, map[string]any{}).ok(t)
				e.do("PUT", syncPath("/rooms/%s/send/m.room.message/t1-"+version, room), carol, map[string]any{"body": "spam"}).
					fails(t, http.StatusForbidden, "M_FORBIDDEN")
				msg := e.do("PUT", syncPath("/rooms/%s/send/m.room.message/t1-"+version, room), bob,
					map[string]any{"msgtype": "m.text", "body": "hello"}).ok(t).Get("event_id").Str
				gone := e.do("PUT", syncPath("/rooms/%s/send/m.room.message/t2-"+version, room), bob,
					map[string]any{"msgtype": "m.text", "body": "oops"}).ok(t).Get("event_id").Str
				topic := e.do("PUT", syncPath("/rooms/%s/state/m.room.topic", room), alice,
					map[string]any{"topic": "then"}).ok(t).Get("event_id").Str
				e.do("PUT", syncPath("/rooms/%s/state/m.room.topic", room), bob, map[string]any{"topic": "mine"}).
					fails(t, http.StatusForbidden, "M_FORBIDDEN")
				redaction := e.do("PUT", syncPath("/rooms/%s/redact/%s/r1-"+version, room, gone), bob, map[string]any{}).ok(t).Get("event_id").Str
				for _, eid := range []string{msg, gone, topic, redaction} {
					if !originID.MatchString(eid) {
						t.Fatalf("event ID %q is not $<random>:test.local", eid)
					}
				}

				tl := e.do("GET", "/_matrix/client/v3/sync", bob, nil).ok(t).Get("rooms.join." + syncKey(room) + ".timeline.events")
				byID := map[string]string{}
				for _, ev := range tl.Array() {
					byID[ev.Get("event_id").Str] = ev.Raw
				}
				if got := tl.Get(`#(event_id=="` + msg + `").content.body`).Str; got != "hello" {
					t.Fatalf("/sync lacks %s with its body: %s", msg, tl.Raw)
				}
				if tl.Get(`#(event_id=="`+gone+`").content.body`).Exists() ||
					tl.Get(`#(event_id=="`+gone+`").unsigned.redacted_because.event_id`).Str != redaction {
					t.Fatalf("/sync shows %s unredacted: %s", gone, byID[gone])
				}
				if tl.Get(`#(event_id=="`+topic+`").content.topic`).Str != "then" {
					t.Fatalf("/sync lacks the topic %s: %s", topic, tl.Raw)
				}

				chunk := e.do("GET", syncPath("/rooms/%s/messages", room)+"?dir=b&limit=50", bob, nil).ok(t).Get("chunk")
				if got := chunk.Get(`#(event_id=="` + msg + `").content.body`).Str; got != "hello" {
					t.Fatalf("/messages lacks %s: %s", msg, chunk.Raw)
				}
				create := chunk.Get(`#(type=="m.room.create")`)
				if !originID.MatchString(create.Get("event_id").Str) || create.Get("content.room_version").Str != version {
					t.Fatalf("/messages create event: %s", create.Raw)
				}
				if got := e.do("GET", syncPath("/rooms/%s/event/%s", room, msg), bob, nil).ok(t).Get("event_id").Str; got != msg {
					t.Fatalf("/event/%s returned %s", msg, got)
				}
				// bob leaves and can no longer send.
				e.do("POST", syncPath("/rooms/%s/leave", room), bob, map[string]any{}).ok(t)
				e.do("PUT", syncPath("/rooms/%s/send/m.room.message/t3-"+version, room), bob, map[string]any{"body": "late"}).
					fails(t, http.StatusForbidden, "M_FORBIDDEN")
			})
		}
	})
}
