package client

import (
	"context"
	"net/http"
	"testing"

	"maunium.net/go/mautrix/id"
)

// TestRoomUpgrade upgrades a public room with an alias, a ban and a topic
// the way Element's "upgrade room" does, and checks what members see: the
// new room carries the old state and points back, the old room carries a
// tombstone and is closed to ordinary members, the alias and the directory
// entry moved.
func TestRoomUpgrade(t *testing.T) {
	forEachSyncDB(t, func(t *testing.T, e *syncEnv) {
		RegisterRooms(e.rt, e.Rooms)
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		old := e.do("POST", "/_matrix/client/v3/createRoom", alice, map[string]any{
			"room_version": "10", "preset": "public_chat", "visibility": "public", "room_alias_name": "club",
			"name": "The Club", "topic": "members only", "invite": []string{bob.String(), carol.String()},
		}).ok(t).Get("room_id").Str
		e.do("POST", syncPath("/rooms/%s/join", old), bob, map[string]any{}).ok(t)
		e.do("POST", syncPath("/rooms/%s/ban", old), alice, map[string]any{"user_id": carol, "reason": "spam"}).ok(t)
		e.do("PUT", syncPath("/rooms/%s/send/m.room.message/u1", old), bob, map[string]any{"msgtype": "m.text", "body": "before"}).ok(t)

		upgrade := func(as id.UserID, body any) syncResp {
			return e.do("POST", syncPath("/rooms/%s/upgrade", old), as, body)
		}
		upgrade(bob, map[string]any{"new_version": "11"}).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		upgrade(alice, map[string]any{"new_version": "99"}).fails(t, http.StatusBadRequest, "M_UNSUPPORTED_ROOM_VERSION")
		upgrade(alice, map[string]any{}).fails(t, http.StatusBadRequest, "M_BAD_JSON")
		upgrade(alice, `{"new_version": 11}`).fails(t, http.StatusBadRequest, "M_BAD_JSON")
		newRoom := upgrade(alice, map[string]any{"new_version": "11"}).ok(t).Get("replacement_room").Str
		if newRoom == "" || newRoom == old {
			t.Fatalf("replacement_room %q", newRoom)
		}

		// The new room: version, predecessor, copied state, the ban.
		state := func(room, evType, stateKey string) syncResp {
			return e.do("GET", syncPath("/rooms/%s/state/%s/%s", room, evType, stateKey), alice, nil)
		}
		create := state(newRoom, "m.room.create", "").ok(t)
		if create.Get("room_version").Str != "11" || create.Get("predecessor.room_id").Str != old || create.Get("predecessor.event_id").Str == "" {
			t.Fatalf("new room's create content: %s", create.Raw)
		}
		for _, c := range []struct{ evType, path, want string }{
			{"m.room.name", "name", "The Club"},
			{"m.room.topic", "topic", "members only"},
			{"m.room.join_rules", "join_rule", "public"},
			{"m.room.canonical_alias", "alias", "#club:test.local"},
		} {
			if got := state(newRoom, c.evType, "").ok(t).Get(c.path).Str; got != c.want {
				t.Errorf("new room %s %s = %q, want %q", c.evType, c.path, got, c.want)
			}
		}
		if got := state(newRoom, "m.room.member", carol.String()).ok(t); got.Get("membership").Str != "ban" || got.Get("reason").Str != "spam" {
			t.Errorf("carol in the new room: %s", got.Raw)
		}
		if pl := state(newRoom, "m.room.power_levels", "").ok(t); pl.Get("users."+syncKey(alice.String())).Int() != 100 {
			t.Errorf("new room power levels: %s", pl.Raw)
		}

		// The old room: tombstone, closed to bob, canonical alias gone.
		if got := state(old, "m.room.tombstone", "").ok(t).Get("replacement_room").Str; got != newRoom {
			t.Fatalf("old room tombstone points to %q", got)
		}
		e.do("PUT", syncPath("/rooms/%s/send/m.room.message/u2", old), bob, map[string]any{"msgtype": "m.text", "body": "after"}).
			fails(t, http.StatusForbidden, "M_FORBIDDEN")
		if got := state(old, "m.room.canonical_alias", "").ok(t).Get("alias"); got.Exists() {
			t.Errorf("old room still has canonical alias %s", got.Raw)
		}
		ctx := context.Background()
		if got, _ := e.Rooms.ResolveAlias(ctx, "#club:test.local"); got != id.RoomID(newRoom) {
			t.Errorf("#club resolves to %s, want the new room", got)
		}
		if v, _ := e.Rooms.Visibility(ctx, id.RoomID(newRoom)); v != "public" {
			t.Errorf("new room directory visibility %q", v)
		}
		if v, _ := e.Rooms.Visibility(ctx, id.RoomID(old)); v == "public" {
			t.Error("old room is still in the directory")
		}

		// bob sees the tombstone in /sync and follows it.
		found := false
		for _, ev := range e.do("GET", "/_matrix/client/v3/sync", bob, nil).ok(t).Get("rooms.join." + syncKey(old) + ".timeline.events").Array() {
			if ev.Get("type").Str == "m.room.tombstone" && ev.Get("content.replacement_room").Str == newRoom {
				found = true
			}
		}
		if !found {
			t.Error("bob's /sync has no tombstone in the old room")
		}
		e.do("POST", syncPath("/rooms/%s/join", newRoom), bob, map[string]any{}).ok(t)
		e.do("PUT", syncPath("/rooms/%s/send/m.room.message/u3", newRoom), bob, map[string]any{"msgtype": "m.text", "body": "hello new room"}).ok(t)
		e.do("POST", syncPath("/rooms/%s/join", newRoom), carol, map[string]any{}).fails(t, http.StatusForbidden, "M_FORBIDDEN")

		// A tombstoned room is not upgraded twice.
		upgrade(alice, map[string]any{"new_version": "11"}).fails(t, http.StatusBadRequest, "M_BAD_STATE")
	})
}
