package client

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

// hierarchyRooms lists the room_id of each room of a /hierarchy page.
func hierarchyRooms(page gjson.Result) []id.RoomID {
	out := []id.RoomID{}
	for _, r := range page.Get("rooms").Array() {
		out = append(out, id.RoomID(r.Get("room_id").Str))
	}
	return out
}

func hierarchyPath(root id.RoomID, query string) string {
	return "/_matrix/client/v1/rooms/" + url.PathEscape(root.String()) + "/hierarchy" + query
}

// newSpace creates a public space named name.
func newSpace(e *syncEnv, creator id.UserID, name string) id.RoomID {
	return e.Room(creator, rooms.CreateRequest{Preset: "public_chat", Name: &name, CreationContent: json.RawMessage(`{"type":"m.space"}`)})
}

// addChild links child into space with extra m.space.child content.
func addChild(e *syncEnv, space id.RoomID, sender id.UserID, child id.RoomID, extra map[string]any) {
	content := map[string]any{"via": []string{"test.local"}}
	for k, v := range extra {
		content[k] = v
	}
	e.State(space, sender, "m.space.child", child.String(), content)
}

func TestSpaceHierarchy(t *testing.T) {
	forEachNavigationDB(t, func(t *testing.T, e *syncEnv) {
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		space := newSpace(e, alice, "Space")
		e.Join(space, bob)
		pubName, pubTopic, privName := "Public", "About things", "Secret"
		pub := e.Room(alice, rooms.CreateRequest{Preset: "public_chat", Name: &pubName, Topic: &pubTopic, RoomAliasName: "pub"})
		e.State(pub, alice, "m.room.avatar", "", map[string]any{"url": "mxc://test.local/avatar"})
		e.State(pub, alice, "m.room.history_visibility", "", map[string]any{"history_visibility": "world_readable"})
		e.State(pub, alice, "m.room.guest_access", "", map[string]any{"guest_access": "can_join"})
		e.Join(pub, carol)
		priv := e.Room(alice, rooms.CreateRequest{Preset: "private_chat", Name: &privName})
		sub := newSpace(e, alice, "Subspace")
		deep := e.Room(alice, rooms.CreateRequest{Preset: "public_chat"})

		// Explicit orders: events sent within one millisecond would otherwise
		// fall back to the random room IDs.
		addChild(e, space, alice, sub, map[string]any{"order": "b"})
		addChild(e, space, alice, priv, map[string]any{"order": "c"})
		addChild(e, space, alice, pub, map[string]any{"order": "a"})    // sent last, listed first
		addChild(e, space, alice, "!elsewhere:other.example", nil)      // unknown here: omitted
		addChild(e, space, alice, deep, map[string]any{"via": []any{}}) // no via: not a child
		addChild(e, sub, alice, deep, map[string]any{"order": "1"})
		addChild(e, sub, alice, space, map[string]any{"order": "2"}) // a loop back to the root

		get := func(as id.UserID, query string) gjson.Result {
			t.Helper()
			return e.do("GET", hierarchyPath(space, query), as, nil).ok(t)
		}
		all := get(bob, "")
		if got, want := hierarchyRooms(all), []id.RoomID{space, pub, sub, deep}; !slices.Equal(got, want) {
			t.Fatalf("hierarchy = %v, want %v (space, pub, sub, deep): %s", got, want, all.Raw)
		}
		if all.Get("next_batch").Exists() {
			t.Errorf("single page has next_batch: %s", all.Raw)
		}
		root := all.Get("rooms.0")
		if root.Get("room_type").Str != "m.space" || root.Get("name").Str != "Space" || root.Get("num_joined_members").Int() != 2 ||
			root.Get("join_rule").Str != "public" {
			t.Errorf("root entry: %s", root.Raw)
		}
		var children []string
		for _, c := range root.Get("children_state").Array() {
			if c.Get("type").Str != "m.space.child" || c.Get("sender").Str != alice.String() || c.Get("origin_server_ts").Int() == 0 ||
				c.Get("content.via.0").Str != "test.local" || c.Get("event_id").Exists() {
				t.Errorf("children_state entry: %s", c.Raw)
			}
			children = append(children, c.Get("state_key").Str)
		}
		if want := []string{pub.String(), sub.String(), priv.String(), "!elsewhere:other.example"}; !slices.Equal(children, want) {
			t.Errorf("children_state order = %v, want %v", children, want)
		}
		p := all.Get("rooms.1")
		for field, want := range map[string]any{
			"name": pubName, "topic": pubTopic, "canonical_alias": "#pub:test.local", "avatar_url": "mxc://test.local/avatar",
			"num_joined_members": 2.0, "world_readable": true, "guest_can_join": true, "join_rule": "public",
		} {
			if got := p.Get(field).Value(); got != want {
				t.Errorf("public room %s = %v, want %v: %s", field, got, want, p.Raw)
			}
		}
		if p.Get("room_type").Exists() || p.Get("children_state").Raw != "[]" {
			t.Errorf("a plain room has no type and no children: %s", p.Raw)
		}
		if n := len(all.Get("rooms.2.children_state").Array()); n != 2 {
			t.Errorf("subspace children_state has %d entries: %s", n, all.Get("rooms.2").Raw)
		}

		// max_depth stops the walk, not the children_state of the last level.
		d1 := get(bob, "?max_depth=1")
		if got := hierarchyRooms(d1); !slices.Equal(got, []id.RoomID{space, pub, sub}) {
			t.Errorf("max_depth=1: %v", got)
		}
		if n := len(d1.Get("rooms.2.children_state").Array()); n != 2 {
			t.Errorf("max_depth=1 subspace children_state: %d", n)
		}
		if got := hierarchyRooms(get(bob, "?max_depth=0")); !slices.Equal(got, []id.RoomID{space}) {
			t.Errorf("max_depth=0: %v", got)
		}

		// Pages of one room, following next_batch, give the same walk.
		var paged []id.RoomID
		from := ""
		for range 10 {
			page := get(bob, "?limit=1&from="+url.QueryEscape(from))
			if n := len(page.Get("rooms").Array()); n != 1 {
				t.Fatalf("page of %d rooms: %s", n, page.Raw)
			}
			paged = append(paged, hierarchyRooms(page)...)
			if from = page.Get("next_batch").Str; from == "" {
				break
			}
		}
		if !slices.Equal(paged, hierarchyRooms(all)) {
			t.Errorf("paged walk %v != %v", paged, hierarchyRooms(all))
		}
		next := get(bob, "?limit=1").Get("next_batch").Str
		e.do("GET", hierarchyPath(space, "?limit=1&max_depth=1&from="+url.QueryEscape(next)), bob, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", hierarchyPath(space, "?limit=1&suggested_only=true&from="+url.QueryEscape(next)), bob, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", hierarchyPath(sub, "?limit=1&from="+url.QueryEscape(next)), bob, nil).fails(t, 400, "M_INVALID_PARAM")

		// suggested_only follows suggested children only.
		addChild(e, space, alice, sub, map[string]any{"order": "b", "suggested": true})
		sugg := get(bob, "?suggested_only=true")
		if got := hierarchyRooms(sugg); !slices.Equal(got, []id.RoomID{space, sub}) {
			t.Errorf("suggested_only: %v", got)
		}
		if n := len(sugg.Get("rooms.0.children_state").Array()); n != 1 {
			t.Errorf("suggested_only root children_state: %s", sugg.Get("rooms.0.children_state").Raw)
		}

		// An invite makes the private room visible; a restricted room is
		// visible to members of a room its join rule allows.
		e.Invite(priv, alice, bob)
		restrictedName := "Members of Space"
		restricted := e.Room(alice, rooms.CreateRequest{Preset: "private_chat", Name: &restrictedName})
		e.State(restricted, alice, "m.room.join_rules", "", map[string]any{"join_rule": "restricted",
			"allow": []any{map[string]any{"type": "m.room_membership", "room_id": space.String()}, "junk"}})
		addChild(e, sub, alice, restricted, map[string]any{"order": "3"})
		if got, want := hierarchyRooms(get(bob, "")), []id.RoomID{space, pub, sub, deep, restricted, priv}; !slices.Equal(got, want) {
			t.Errorf("bob after invite = %v, want %v", got, want)
		}
		if got, want := hierarchyRooms(get(carol, "")), []id.RoomID{space, pub, sub, deep}; !slices.Equal(got, want) {
			t.Errorf("carol = %v, want %v", got, want)
		}
	})
}

func TestSpaceHierarchyBadInput(t *testing.T) {
	forEachNavigationDB(t, func(t *testing.T, e *syncEnv) {
		alice, bob := e.User("alice"), e.User("bob")
		space := newSpace(e, alice, "Space")
		priv := e.Room(alice, rooms.CreateRequest{Preset: "private_chat", CreationContent: json.RawMessage(`{"type":"m.space"}`)})
		e.do("GET", hierarchyPath(priv, ""), bob, nil).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		e.do("GET", hierarchyPath("!unknown:test.local", ""), bob, nil).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		e.do("GET", "/_matrix/client/v1/rooms/not-a-room/hierarchy", bob, nil).fails(t, 400, "M_INVALID_PARAM")
		forged := base64.RawURLEncoding.EncodeToString([]byte("99999999999999:1:0:" + space.String()))
		for _, q := range []string{"limit=0", "limit=-3", "limit=many", "limit=", "max_depth=-1", "max_depth=deep",
			"suggested_only=yes", "from=garbage", "from=%FF", "from=" + forged} {
			e.do("GET", hierarchyPath(space, "?"+q), bob, nil).fails(t, 400, "M_INVALID_PARAM")
		}
		// Out-of-range values that are numbers are clamped, not refused.
		if got := hierarchyRooms(e.do("GET", hierarchyPath(space, "?limit=100000&max_depth=100000"), bob, nil).ok(t)); !slices.Equal(got, []id.RoomID{space}) {
			t.Errorf("clamped: %v", got)
		}
		e.do("GET", hierarchyPath(space, ""), "", nil).fails(t, http.StatusUnauthorized, "M_MISSING_TOKEN")
	})
}
