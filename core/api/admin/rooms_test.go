package admin

import (
	"context"
	"slices"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// createRoom creates a room over the client API and returns its ID.
func (e *env) createRoom(tok string, body map[string]any) string {
	e.t.Helper()
	status, res := e.do("POST", "/_matrix/client/v3/createRoom", tok, body)
	roomID, _ := res["room_id"].(string)
	if status != 200 || roomID == "" {
		e.t.Fatalf("createRoom: %d %v", status, res)
	}
	return roomID
}

// names returns the sorted strings of a JSON list.
func names(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestAdminRooms(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, "s3cret")
		root := e.register("root", true)
		alice := e.register("alice", false)
		bob := e.register("bob", false)
		cats := e.createRoom(alice, map[string]any{"name": "Cat Pictures", "preset": "public_chat", "room_alias_name": "cats"})
		if status, body := e.do("POST", "/_matrix/client/v3/join/"+cats, bob, nil); status != 200 {
			t.Fatalf("bob joins: %d %v", status, body)
		}
		dogs := e.createRoom(bob, map[string]any{"name": "Dog Chat"})

		for _, path := range []string{"/_synapse/admin/v1/rooms", "/_synapse/admin/v1/rooms/" + cats,
			"/_synapse/admin/v1/rooms/" + cats + "/members", "/_synapse/admin/v1/rooms/" + cats + "/state",
			"/_synapse/admin/v1/rooms/" + cats + "/block"} {
			if status, body := e.do("GET", path, alice, nil); status != 403 || body["errcode"] != "M_FORBIDDEN" {
				t.Fatalf("non-admin GET %s: %d %v", path, status, body)
			}
		}
		if status, _ := e.do("DELETE", "/_synapse/admin/v1/rooms/"+cats, alice, map[string]any{"block": true}); status != 403 {
			t.Fatalf("non-admin delete: %d", status)
		}

		// The list finds the room by name, with its members counted.
		status, body := e.do("GET", "/_synapse/admin/v1/rooms?search_term=cat", root, nil)
		list, _ := body["rooms"].([]any)
		if status != 200 || body["total_rooms"] != float64(1) || len(list) != 1 {
			t.Fatalf("search: %d %v", status, body)
		}
		room := list[0].(map[string]any)
		if room["room_id"] != cats || room["name"] != "Cat Pictures" || room["joined_members"] != float64(2) ||
			room["joined_local_members"] != float64(2) || room["canonical_alias"] != "#cats:example.org" ||
			room["creator"] != "@alice:example.org" || room["join_rules"] != "public" || room["public"] != false ||
			room["version"] == "" || room["state_events"].(float64) < 6 || room["encryption"] != nil {
			t.Fatalf("room entry: %v", room)
		}
		status, body = e.do("GET", "/_synapse/admin/v1/rooms?order_by=joined_members&dir=b&limit=1", root, nil)
		list, _ = body["rooms"].([]any)
		if status != 200 || body["total_rooms"] != float64(2) || len(list) != 1 || list[0].(map[string]any)["room_id"] != cats ||
			body["next_batch"] != float64(1) {
			t.Fatalf("order by members: %d %v", status, body)
		}
		status, body = e.do("GET", "/_synapse/admin/v1/rooms?order_by=name&from=1", root, nil)
		list, _ = body["rooms"].([]any)
		if status != 200 || len(list) != 1 || list[0].(map[string]any)["name"] != "Dog Chat" || body["next_batch"] != nil {
			t.Fatalf("second page by name: %d %v", status, body)
		}
		status, body = e.do("GET", "/_synapse/admin/v1/rooms/"+dogs, root, nil)
		if status != 200 || body["name"] != "Dog Chat" || body["joined_members"] != float64(1) || body["join_rules"] != "invite" {
			t.Fatalf("room details: %d %v", status, body)
		}
		status, body = e.do("GET", "/_synapse/admin/v1/rooms/"+cats+"/members", root, nil)
		if got := names(body["members"]); status != 200 || !slices.Equal(got, []string{"@alice:example.org", "@bob:example.org"}) {
			t.Fatalf("members: %d %v", status, body)
		}
		status, body = e.do("GET", "/_synapse/admin/v1/rooms/"+cats+"/state", root, nil)
		state, _ := body["state"].([]any)
		var types []string
		for _, ev := range state {
			types = append(types, ev.(map[string]any)["type"].(string))
		}
		if status != 200 || !slices.Contains(types, "m.room.create") || !slices.Contains(types, "m.room.name") {
			t.Fatalf("state: %d %v", status, types)
		}
		status, body = e.do("GET", "/_synapse/admin/v1/rooms/"+cats+"/state?type=m.room.member", root, nil)
		state, _ = body["state"].([]any)
		var keys []any
		for _, ev := range state {
			keys = append(keys, ev.(map[string]any)["state_key"])
		}
		if status != 200 || !slices.Equal(names(keys), []string{"@alice:example.org", "@bob:example.org"}) {
			t.Fatalf("member state: %d %v", status, body)
		}
		status, body = e.do("GET", "/_synapse/admin/v1/users/@bob:example.org/joined_rooms", root, nil)
		if got := names(body["joined_rooms"]); status != 200 || !slices.Equal(got, names([]any{cats, dogs})) || body["total"] != float64(2) {
			t.Fatalf("joined_rooms: %d %v", status, body)
		}
		if _, body := e.do("GET", "/_synapse/admin/v1/rooms/"+cats+"/block", root, nil); body["block"] != false {
			t.Fatalf("block before: %v", body)
		}

		// Shut the room down into a new one, and block it.
		status, body = e.do("DELETE", "/_synapse/admin/v1/rooms/"+cats, root, map[string]any{
			"new_room_user_id": "@root:example.org", "room_name": "Moved", "message": "This room broke the rules", "block": true, "purge": true,
		})
		newRoom, _ := body["new_room_id"].(string)
		if status != 200 || newRoom == "" || !slices.Equal(names(body["kicked_users"]), []string{"@alice:example.org", "@bob:example.org"}) ||
			!slices.Equal(names(body["local_aliases"]), []string{"#cats:example.org"}) {
			t.Fatalf("delete: %d %v", status, body)
		}
		ctx := context.Background()
		for _, u := range []string{"@alice:example.org", "@bob:example.org"} {
			if m, err := e.rs.MembershipOf(ctx, id.RoomID(cats), id.UserID(u)); err != nil || m != "leave" {
				t.Fatalf("%s in the old room: %q %v", u, m, err)
			}
		}
		status, body = e.do("GET", "/_synapse/admin/v1/rooms/"+newRoom+"/members", root, nil)
		if got := names(body["members"]); status != 200 || !slices.Equal(got, []string{"@alice:example.org", "@bob:example.org", "@root:example.org"}) {
			t.Fatalf("new room members: %d %v", status, body)
		}
		if _, body := e.do("GET", "/_synapse/admin/v1/rooms/"+newRoom, root, nil); body["name"] != "Moved" {
			t.Fatalf("new room: %v", body)
		}
		if got := roomMessages(t, e, newRoom); !slices.Equal(got, []string{"This room broke the rules"}) {
			t.Fatalf("new room messages: %v", got)
		}
		// The alias now leads to the new room.
		if got, _ := e.rs.ResolveAlias(ctx, "#cats:example.org"); string(got) != newRoom {
			t.Fatalf("alias points at %s", got)
		}
		// Joining the blocked room fails.
		if status, body := e.do("POST", "/_matrix/client/v3/join/"+cats, bob, nil); status != 403 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("join blocked room: %d %v", status, body)
		}
		// So does a join sent as raw state.
		if status, body := e.do("PUT", "/_matrix/client/v3/rooms/"+cats+"/state/m.room.member/@bob:example.org", bob,
			map[string]any{"membership": "join"}); status != 403 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("raw state join of blocked room: %d %v", status, body)
		}
		if _, body := e.do("GET", "/_synapse/admin/v1/rooms/"+cats+"/block", root, nil); body["block"] != true || body["user_id"] != "@root:example.org" {
			t.Fatalf("block after: %v", body)
		}
		// Unblocked, the public room can be joined again.
		if status, body := e.do("PUT", "/_synapse/admin/v1/rooms/"+cats+"/block", root, map[string]any{"block": false}); status != 200 || body["block"] != false {
			t.Fatalf("unblock: %d %v", status, body)
		}
		if status, _ := e.do("POST", "/_matrix/client/v3/join/"+cats, bob, nil); status != 200 {
			t.Fatalf("join after unblock: %d", status)
		}
		// A room not known yet can be blocked in advance.
		if status, _ := e.do("PUT", "/_synapse/admin/v1/rooms/!future:elsewhere.org/block", root, map[string]any{"block": true}); status != 200 {
			t.Fatalf("block unknown room: %d", status)
		}
		status, body = e.do("DELETE", "/_synapse/admin/v1/rooms/!later:elsewhere.org", root, map[string]any{"block": true})
		if status != 200 || len(names(body["kicked_users"])) != 0 || body["new_room_id"] != nil {
			t.Fatalf("delete unknown room with block: %d %v", status, body)
		}
		if _, body := e.do("GET", "/_synapse/admin/v1/rooms/!later:elsewhere.org/block", root, nil); body["block"] != true {
			t.Fatalf("unknown room not blocked: %v", body)
		}
	})
}

func TestAdminRoomsBadInput(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, "s3cret")
		root := e.register("root", true)
		room := e.createRoom(root, map[string]any{"name": "R"})
		for _, c := range []struct {
			method, path string
			body         any
			status       int
			errcode      string
		}{
			{"GET", "/_synapse/admin/v1/rooms/!nope:example.org", nil, 404, "M_NOT_FOUND"},
			{"GET", "/_synapse/admin/v1/rooms/!nope:example.org/members", nil, 404, "M_NOT_FOUND"},
			{"GET", "/_synapse/admin/v1/rooms/!nope:example.org/state", nil, 404, "M_NOT_FOUND"},
			{"DELETE", "/_synapse/admin/v1/rooms/!nope:example.org", nil, 404, "M_NOT_FOUND"},
			{"GET", "/_synapse/admin/v1/rooms/notaroom", nil, 400, "M_INVALID_PARAM"},
			{"GET", "/_synapse/admin/v1/rooms?order_by=bogus", nil, 400, "M_INVALID_PARAM"},
			{"GET", "/_synapse/admin/v1/rooms?dir=x", nil, 400, "M_INVALID_PARAM"},
			{"GET", "/_synapse/admin/v1/rooms?limit=-1", nil, 400, "M_INVALID_PARAM"},
			{"DELETE", "/_synapse/admin/v1/rooms/" + room, "{", 400, "M_NOT_JSON"},
			{"DELETE", "/_synapse/admin/v1/rooms/" + room, map[string]any{"new_room_user_id": "@x:other.org"}, 400, ""},
			{"DELETE", "/_synapse/admin/v1/rooms/" + room, map[string]any{"new_room_user_id": "@ghost:example.org"}, 404, "M_NOT_FOUND"},
			{"PUT", "/_synapse/admin/v1/rooms/" + room + "/block", map[string]any{}, 400, "M_MISSING_PARAM"},
			{"PUT", "/_synapse/admin/v1/rooms/" + room + "/block", map[string]any{"block": "yes"}, 400, "M_BAD_JSON"},
		} {
			status, body := e.do(c.method, c.path, root, c.body)
			if status != c.status || (c.errcode != "" && body["errcode"] != c.errcode) {
				t.Errorf("%s %s %v: %d %v", c.method, c.path, c.body, status, body)
			}
		}
	})
}

// roomMessages returns the bodies of a room's m.room.message events, in
// order, as stored.
func roomMessages(t *testing.T, e *env, roomID string) []string {
	t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT client FROM events WHERE room_id = $1 AND type = 'm.room.message' ORDER BY stream_pos`, roomID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var client string
		if err := rows.Scan(&client); err != nil {
			t.Fatal(err)
		}
		out = append(out, gjson.Get(client, "content.body").Str)
	}
	return out
}
