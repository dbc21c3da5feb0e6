package client

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestProfile(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newExtrasEnv(t, db, false)
		alice, bob, admin := e.user("alice", false), e.user("bob", false), e.user("admin", true)
		room1 := e.room(alice, rooms.CreateRequest{Preset: "public_chat"}, bob)
		room2 := e.room(bob, rooms.CreateRequest{Preset: "public_chat"}, alice)
		const p = "/_matrix/client/v3/profile/"
		member := func(roomID id.RoomID) (id.EventID, gjson.Result) {
			t.Helper()
			ev, err := e.rs.StateEvent(e.ctx, roomID, event.StateMember.Type, alice.String())
			if err != nil || ev == nil {
				t.Fatalf("alice's membership in %s: %v", roomID, err)
			}
			return ev.ID, gjson.ParseBytes(ev.PDU.Content)
		}

		// Registration sets the localpart as display name; reads need no token.
		if got := e.do("GET", p+alice.String(), "", nil).ok(t).Raw; got != `{"displayname":"alice"}` {
			t.Fatalf("profile = %s", got)
		}
		before1, _ := member(room1)

		e.do("PUT", p+alice.String()+"/displayname", alice, map[string]any{"displayname": "  Alice Liddell "}).ok(t)
		if got := e.do("GET", p+alice.String()+"/displayname", "", nil).ok(t).Get("displayname").Str; got != "Alice Liddell" {
			t.Fatalf("displayname = %q", got)
		}
		for _, roomID := range []id.RoomID{room1, room2} {
			evID, content := member(roomID)
			if evID == before1 || content.Get("displayname").Str != "Alice Liddell" || content.Get("membership").Str != "join" {
				t.Fatalf("membership in %s after rename: %s %s", roomID, evID, content.Raw)
			}
		}
		e.do("PUT", p+alice.String()+"/avatar_url", alice, map[string]any{"avatar_url": "mxc://test.local/abc"}).ok(t)
		if got := e.do("GET", p+alice.String(), "", nil).ok(t).Raw; got != `{"avatar_url":"mxc://test.local/abc","displayname":"Alice Liddell"}` {
			t.Fatalf("profile = %s", got)
		}
		afterAvatar, content := member(room2)
		if content.Get("avatar_url").Str != "mxc://test.local/abc" || content.Get("displayname").Str != "Alice Liddell" {
			t.Fatalf("membership after avatar change: %s", content.Raw)
		}
		// Setting the same value again sends no new membership.
		e.do("PUT", p+alice.String()+"/avatar_url", alice, map[string]any{"avatar_url": "mxc://test.local/abc"}).ok(t)
		if again, _ := member(room2); again != afterAvatar {
			t.Fatal("unchanged avatar re-sent the membership")
		}
		// Clearing.
		e.do("PUT", p+alice.String()+"/avatar_url", alice, map[string]any{"avatar_url": ""}).ok(t)
		if got := e.do("GET", p+alice.String()+"/avatar_url", "", nil).ok(t).Raw; got != `{}` {
			t.Fatalf("cleared avatar = %s", got)
		}
		if _, content := member(room1); content.Get("avatar_url").Exists() {
			t.Fatalf("membership still has the avatar: %s", content.Raw)
		}

		// Only the user or an admin may write.
		e.do("PUT", p+alice.String()+"/displayname", bob, map[string]any{"displayname": "Mallory"}).fails(t, 403, "M_FORBIDDEN")
		e.do("PUT", p+alice.String()+"/displayname", "", map[string]any{"displayname": "Mallory"}).fails(t, 401, "M_MISSING_TOKEN")
		e.do("PUT", p+alice.String()+"/displayname", admin, map[string]any{"displayname": "Alice (renamed)"}).ok(t)
		if _, content := member(room1); content.Get("displayname").Str != "Alice (renamed)" {
			t.Fatalf("admin rename not propagated: %s", content.Raw)
		}

		// Bad input.
		e.do("PUT", p+alice.String()+"/displayname", alice, map[string]any{"displayname": strings.Repeat("é", 257)}).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", p+alice.String()+"/displayname", alice, map[string]any{"displayname": strings.Repeat("é", 256)}).ok(t)
		e.do("PUT", p+alice.String()+"/displayname", alice, map[string]any{"displayname": 12}).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", p+alice.String()+"/displayname", alice, map[string]any{"displayname": nil}).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", p+alice.String()+"/displayname", alice, map[string]any{}).fails(t, 400, "M_BAD_JSON")
		e.do("PUT", p+alice.String()+"/displayname", alice, "[1]").fails(t, 400, "M_BAD_JSON")
		e.do("PUT", p+alice.String()+"/avatar_url", alice, map[string]any{"avatar_url": "https://example.org/a.png"}).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", p+alice.String()+"/avatar_url", alice, map[string]any{"avatar_url": "mxc://test.local"}).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", p+alice.String()+"/avatar_url", alice, map[string]any{"avatar_url": "mxc://test.local/" + strings.Repeat("a", 1000)}).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", p+"@nobody:test.local", "", nil).fails(t, 404, "M_NOT_FOUND")
		e.do("GET", p+"@someone:elsewhere.org/displayname", "", nil).fails(t, 404, "M_NOT_FOUND")
		e.do("GET", p+"notauser", "", nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", p+"@nobody:test.local/displayname", admin, map[string]any{"displayname": "x"}).fails(t, 404, "M_NOT_FOUND")
		e.do("PUT", p+"notauser/displayname", admin, map[string]any{"displayname": "x"}).fails(t, 400, "M_INVALID_PARAM")
	})
}

func FuzzProfileBodyField(f *testing.F) {
	for _, s := range []string{`{"displayname":"x"}`, `{"displayname":null}`, `{}`, `[]`, `{"displayname":1}`, `{`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("PUT", "/", strings.NewReader(body))
		v, err := profileBodyField(req, "displayname")
		if err != nil {
			var me *httpx.Error
			if !errors.As(err, &me) || me.Status != 400 {
				t.Fatalf("body %q: %v is not a 400 Matrix error", body, err)
			}
			return
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(body), &obj); err != nil || !utf8.ValidString(v) || obj["displayname"] == nil {
			t.Fatalf("body %q gave %q", body, v)
		}
	})
}
