package client

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func extrasRoomIDs(chunk gjson.Result) []string {
	out := []string{}
	for _, r := range chunk.Array() {
		out = append(out, r.Get("room_id").Str)
	}
	return out
}

func extrasWantRooms(t *testing.T, what string, chunk gjson.Result, want ...id.RoomID) {
	t.Helper()
	got, _ := json.Marshal(extrasRoomIDs(chunk))
	w := []string{}
	for _, r := range want {
		w = append(w, string(r))
	}
	wj, _ := json.Marshal(w)
	if string(got) != string(wj) {
		t.Fatalf("%s: rooms %s, want %s", what, got, wj)
	}
}

func TestDirectoryPublicRooms(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newExtrasEnv(t, db, false)
		alice, bob, carol := e.user("alice", false), e.user("bob", false), e.user("carol", false)
		str := func(s string) *string { return &s }
		a := e.room(alice, rooms.CreateRequest{Preset: "public_chat", Visibility: "public", Name: str("Gophers"),
			Topic: str("All about Go"), RoomAliasName: "gophers"}, bob, carol)
		b := e.room(alice, rooms.CreateRequest{Preset: "public_chat", Visibility: "public", Name: str("Rustaceans")}, bob)
		c := e.room(alice, rooms.CreateRequest{Preset: "public_chat", Visibility: "public", Name: str("Quiet"),
			Topic: str("nothing"), CreationContent: json.RawMessage(`{"type":"m.space"}`)})
		secret := e.room(alice, rooms.CreateRequest{Preset: "private_chat", Name: str("Secret")})
		// Published but invite-only: not listed until its history is world-readable.
		inviteOnly := e.room(alice, rooms.CreateRequest{Preset: "private_chat", Visibility: "public", Name: str("Invite only")})
		// Public join rule but never published.
		e.room(alice, rooms.CreateRequest{Preset: "public_chat", Name: str("Unlisted")})
		e.setState(c, alice, event.StateRoomAvatar.Type, map[string]any{"url": "mxc://test.local/quiet"})

		const pr = "/_matrix/client/v3/publicRooms"
		all := e.do("GET", pr, alice, nil).ok(t)
		extrasWantRooms(t, "all", all.Get("chunk"), a, b, c)
		if all.Get("total_room_count_estimate").Int() != 3 || all.Get("next_batch").Exists() || all.Get("prev_batch").Exists() {
			t.Fatalf("listing = %s", all.Raw)
		}
		first := all.Get("chunk.0")
		want := map[string]any{"room_id": string(a), "name": "Gophers", "topic": "All about Go",
			"canonical_alias": "#gophers:test.local", "num_joined_members": 3.0, "world_readable": false,
			"guest_can_join": false, "join_rule": "public"}
		if got := first.Value().(map[string]any); !extrasJSONEqual(got, want) {
			t.Fatalf("entry = %s, want %v", first.Raw, want)
		}
		if third := all.Get("chunk.2"); third.Get("room_type").Str != "m.space" || third.Get("avatar_url").Str != "mxc://test.local/quiet" ||
			third.Get("num_joined_members").Int() != 1 {
			t.Fatalf("space entry = %s", third.Raw)
		}

		// Pagination forwards, then back again.
		p1 := e.do("GET", pr+"?limit=1", alice, nil).ok(t)
		extrasWantRooms(t, "page 1", p1.Get("chunk"), a)
		if p1.Get("prev_batch").Exists() || p1.Get("total_room_count_estimate").Int() != 3 {
			t.Fatalf("page 1 = %s", p1.Raw)
		}
		p2 := e.do("GET", pr+"?limit=1&since="+url.QueryEscape(p1.Get("next_batch").Str), alice, nil).ok(t)
		extrasWantRooms(t, "page 2", p2.Get("chunk"), b)
		p3 := e.do("GET", pr+"?limit=1&since="+url.QueryEscape(p2.Get("next_batch").Str), alice, nil).ok(t)
		extrasWantRooms(t, "page 3", p3.Get("chunk"), c)
		if p3.Get("next_batch").Exists() {
			t.Fatalf("last page has next_batch: %s", p3.Raw)
		}
		back := e.do("GET", pr+"?limit=1&since="+url.QueryEscape(p3.Get("prev_batch").Str), alice, nil).ok(t)
		extrasWantRooms(t, "back from page 3", back.Get("chunk"), b)
		back2 := e.do("GET", pr+"?limit=5&since="+url.QueryEscape(p3.Get("prev_batch").Str), alice, nil).ok(t)
		extrasWantRooms(t, "back from page 3, limit 5", back2.Get("chunk"), a, b)
		if back2.Get("prev_batch").Exists() || !back2.Get("next_batch").Exists() {
			t.Fatalf("backwards page = %s", back2.Raw)
		}
		// The same through POST.
		pp := e.do("POST", pr, alice, map[string]any{"limit": 2}).ok(t)
		extrasWantRooms(t, "POST page 1", pp.Get("chunk"), a, b)
		pp2 := e.do("POST", pr, alice, map[string]any{"limit": 2, "since": pp.Get("next_batch").Str}).ok(t)
		extrasWantRooms(t, "POST page 2", pp2.Get("chunk"), c)

		// Search matches name, topic and canonical alias, ignoring case.
		search := func(term string, want ...id.RoomID) {
			t.Helper()
			res := e.do("POST", pr, alice, map[string]any{"filter": map[string]any{"generic_search_term": term}}).ok(t)
			extrasWantRooms(t, "search "+term, res.Get("chunk"), want...)
			if res.Get("total_room_count_estimate").Int() != 3 {
				t.Fatalf("total under search = %s", res.Get("total_room_count_estimate").Raw)
			}
		}
		search("GOPHER", a)
		search("about go", a)
		search("#gophers:test", a)
		search("NOTHING", c)
		search("RUST", b)
		search("zzz")
		types := func(what string, roomTypes []any, want ...id.RoomID) {
			t.Helper()
			res := e.do("POST", pr, alice, map[string]any{"filter": map[string]any{"room_types": roomTypes}}).ok(t)
			extrasWantRooms(t, what, res.Get("chunk"), want...)
		}
		types("spaces", []any{"m.space"}, c)
		types("rooms without type", []any{nil}, a, b)
		types("both", []any{nil, "m.space"}, a, b, c)
		if got := e.do("POST", pr, alice, map[string]any{"third_party_instance_id": "irc|libera"}).ok(t); len(got.Get("chunk").Array()) != 0 {
			t.Fatalf("third-party network listing = %s", got.Raw)
		}
		e.do("POST", pr, alice, map[string]any{"include_all_networks": true}).ok(t)

		// Bad input.
		e.do("GET", pr+"?since=garbage", alice, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", pr+"?limit=-1", alice, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", pr+"?limit=ten", alice, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", pr+"?server=bad_server!", alice, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", pr+"?server=elsewhere.org", alice, nil).fails(t, 404, "M_NOT_FOUND")
		e.do("GET", pr+"?server=test.local", alice, nil).ok(t)
		e.do("POST", pr, alice, map[string]any{"limit": "ten"}).fails(t, 400, "M_BAD_JSON")
		e.do("POST", pr, alice, map[string]any{"include_all_networks": true, "third_party_instance_id": "x"}).fails(t, 400, "M_INVALID_PARAM")
		e.do("POST", pr, "", map[string]any{}).fails(t, 401, "M_MISSING_TOKEN")

		// Without allow_public_rooms_without_auth a token is required.
		e.do("GET", pr, "", nil).fails(t, 401, "M_MISSING_TOKEN")
		e.do("GET", pr, "@stale:test.local", nil).fails(t, 401, "M_UNKNOWN_TOKEN")

		// Visibility.
		vis := func(roomID id.RoomID) string { return "/_matrix/client/v3/directory/list/room/" + string(roomID) }
		if v := e.do("GET", vis(a), "", nil).ok(t).Get("visibility").Str; v != "public" {
			t.Fatalf("visibility of a = %q", v)
		}
		if v := e.do("GET", vis(secret), "", nil).ok(t).Get("visibility").Str; v != "private" {
			t.Fatalf("visibility of secret = %q", v)
		}
		e.do("GET", vis("!unknown:test.local"), "", nil).fails(t, 404, "M_NOT_FOUND")
		e.do("GET", vis("nope"), "", nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", vis(b), bob, map[string]any{"visibility": "private"}).fails(t, 403, "M_FORBIDDEN")     // member, power 0
		e.do("PUT", vis(secret), bob, map[string]any{"visibility": "public"}).fails(t, 403, "M_FORBIDDEN") // not a member
		e.do("PUT", vis(b), alice, map[string]any{"visibility": "hidden"}).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", vis("!unknown:test.local"), alice, map[string]any{"visibility": "public"}).fails(t, 404, "M_NOT_FOUND")
		e.do("PUT", vis(b), alice, map[string]any{"visibility": "private"}).ok(t)
		if v := e.do("GET", vis(b), "", nil).ok(t).Get("visibility").Str; v != "private" {
			t.Fatalf("visibility of b after PUT = %q", v)
		}
		extrasWantRooms(t, "after withdrawing b", e.do("GET", pr, alice, nil).ok(t).Get("chunk"), a, c)

		// A world-readable room is listed even when invite-only.
		e.setState(inviteOnly, alice, event.StateHistoryVisibility.Type, map[string]any{"history_visibility": "world_readable"})
		res := e.do("GET", pr, alice, nil).ok(t)
		// c and inviteOnly both have one member: room ID descending breaks the tie.
		low, high := c, inviteOnly
		if low > high {
			low, high = high, low
		}
		extrasWantRooms(t, "with world-readable", res.Get("chunk"), a, high, low)
		entry := res.Get(`chunk.#(room_id=="` + string(inviteOnly) + `")`)
		if !entry.Get("world_readable").Bool() || entry.Get("join_rule").Str != "invite" || !entry.Get("guest_can_join").Bool() {
			t.Fatalf("world-readable entry = %s", entry.Raw)
		}
	})
}

func TestDirectoryPublicRoomsWithoutAuth(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newExtrasEnv(t, db, true)
		alice := e.user("alice", false)
		name := "Open"
		a := e.room(alice, rooms.CreateRequest{Preset: "public_chat", Visibility: "public", Name: &name})
		extrasWantRooms(t, "no token", e.do("GET", "/_matrix/client/v3/publicRooms", "", nil).ok(t).Get("chunk"), a)
		extrasWantRooms(t, "stale token", e.do("GET", "/_matrix/client/v3/publicRooms", "@stale:test.local", nil).ok(t).Get("chunk"), a)
		// POST always needs a token, as in Synapse.
		e.do("POST", "/_matrix/client/v3/publicRooms", "", map[string]any{}).fails(t, http.StatusUnauthorized, "M_MISSING_TOKEN")
	})
}

func extrasJSONEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
