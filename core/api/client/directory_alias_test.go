package client

import (
	"net/http"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestDirectoryAliases(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newExtrasEnv(t, db, false)
		alice, bob, admin := e.user("alice", false), e.user("bob", false), e.user("admin", true)
		roomID := e.room(alice, rooms.CreateRequest{Preset: "private_chat"})
		other := e.room(bob, rooms.CreateRequest{Preset: "private_chat"})
		const path = "/_matrix/client/v3/directory/room/"

		e.do("PUT", path+extrasEsc("#team:test.local"), alice, map[string]any{"room_id": roomID}).ok(t)
		got := e.do("GET", path+extrasEsc("#team:test.local"), "", nil).ok(t)
		if got.Get("room_id").Str != string(roomID) || got.Get("servers").Raw != `["test.local"]` {
			t.Fatalf("resolve: %s", got.Raw)
		}
		// The r0 path serves the same endpoint.
		if e.do("GET", "/_matrix/client/r0/directory/room/"+extrasEsc("#team:test.local"), "", nil).ok(t).Get("room_id").Str != string(roomID) {
			t.Fatal("r0 alias lookup failed")
		}
		e.do("PUT", path+extrasEsc("#team:test.local"), alice, map[string]any{"room_id": roomID}).fails(t, http.StatusConflict, "M_UNKNOWN")
		// Creating an alias takes membership, as in Synapse.
		e.do("PUT", path+extrasEsc("#mine:test.local"), bob, map[string]any{"room_id": roomID}).fails(t, 403, "M_FORBIDDEN")
		e.do("PUT", path+extrasEsc("#adm:test.local"), admin, map[string]any{"room_id": roomID}).ok(t)

		// Bad input.
		e.do("GET", path+"notanalias", "", nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", path+extrasEsc("#:test.local"), "", nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", path+extrasEsc("#nope:test.local"), "", nil).fails(t, 404, "M_NOT_FOUND")
		e.do("GET", path+extrasEsc("#x:elsewhere.org"), "", nil).fails(t, 404, "M_NOT_FOUND")
		e.do("PUT", path+extrasEsc("#x:elsewhere.org"), alice, map[string]any{"room_id": roomID}).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", path+extrasEsc("#x:test.local"), alice, map[string]any{"room_id": "abc"}).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", path+extrasEsc("#x:test.local"), alice, map[string]any{"room_id": "!unknown:test.local"}).fails(t, 404, "M_NOT_FOUND")
		e.do("PUT", path+extrasEsc("#x:test.local"), alice, map[string]any{}).fails(t, 400, "M_BAD_JSON")
		e.do("PUT", path+extrasEsc("#x:test.local"), alice, "{not json").fails(t, 400, "M_NOT_JSON")
		e.do("PUT", path+extrasEsc("#x:test.local"), "", map[string]any{"room_id": roomID}).fails(t, 401, "M_MISSING_TOKEN")

		// Room alias listing: members only.
		list := "/_matrix/client/v3/rooms/" + string(roomID) + "/aliases"
		if got := e.do("GET", list, alice, nil).ok(t).Get("aliases").Raw; got != `["#adm:test.local","#team:test.local"]` {
			t.Fatalf("aliases = %s", got)
		}
		e.do("GET", list, bob, nil).fails(t, 403, "M_FORBIDDEN")
		e.do("GET", "/_matrix/client/v3/rooms/bad/aliases", alice, nil).fails(t, 400, "M_INVALID_PARAM")
		if got := e.do("GET", "/_matrix/client/v3/rooms/"+string(other)+"/aliases", bob, nil).ok(t).Get("aliases").Raw; got != `[]` {
			t.Fatalf("aliases of a room without any = %s", got)
		}

		// Deleting: a plain member may not, the creator may, and the alias
		// then leaves the canonical alias event.
		e.setState(roomID, alice, event.StateCanonicalAlias.Type, map[string]any{
			"alias": "#team:test.local", "alt_aliases": []string{"#team:test.local", "#adm:test.local"}})
		if _, err := e.rs.SetMembership(e.ctx, rooms.MembershipRequest{RoomID: roomID, Sender: alice, Target: bob, Membership: "invite"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.rs.Join(e.ctx, bob, string(roomID), "", nil); err != nil {
			t.Fatal(err)
		}
		e.do("DELETE", path+extrasEsc("#team:test.local"), bob, nil).fails(t, 403, "M_FORBIDDEN")
		e.do("DELETE", path+extrasEsc("#team:test.local"), alice, nil).ok(t)
		e.do("GET", path+extrasEsc("#team:test.local"), "", nil).fails(t, 404, "M_NOT_FOUND")
		e.do("DELETE", path+extrasEsc("#team:test.local"), alice, nil).fails(t, 404, "M_NOT_FOUND")
		ca, err := e.rs.StateEvent(e.ctx, roomID, event.StateCanonicalAlias.Type, "")
		if err != nil || ca == nil {
			t.Fatalf("canonical alias: %v", err)
		}
		if c := gjson.ParseBytes(ca.PDU.Content); c.Get("alias").Exists() || c.Get("alt_aliases").Raw != `["#adm:test.local"]` {
			t.Fatalf("canonical alias after delete = %s", ca.PDU.Content)
		}
		if ca.Sender() != alice {
			t.Fatalf("canonical alias update sent by %s, want the deleting user", ca.Sender())
		}
		// An admin may delete any alias, even one created by someone else.
		e.do("DELETE", path+extrasEsc("#adm:test.local"), admin, nil).ok(t)
		if got := e.do("GET", list, alice, nil).ok(t).Get("aliases").Raw; got != `[]` {
			t.Fatalf("aliases after deletes = %s", got)
		}
		// A moderator may delete another member's alias.
		e.do("PUT", path+extrasEsc("#bobs:test.local"), bob, map[string]any{"room_id": roomID}).ok(t)
		e.do("DELETE", path+extrasEsc("#bobs:test.local"), alice, nil).ok(t)
	})
}
