package client

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/directory"
	"github.com/gatehouse-chat/gatehouse/core/jumptodate"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// forEachNavigationDB runs fn on both databases against the real sync stack
// with RegisterNavigation added, wired as core.go wires it.
func forEachNavigationDB(t *testing.T, fn func(t *testing.T, e *syncEnv)) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newSyncEnv(t, db)
		RegisterNavigation(e.rt, e.Account, directory.New(e.DB, e.Rooms), jumptodate.New(e.DB, e.Sync))
		fn(t, e)
	})
}

// roomTagsInSync returns the tags of the m.tag event in a /sync response's
// account_data for room, and whether there was one.
func roomTagsInSync(sync gjson.Result, room id.RoomID) (gjson.Result, bool) {
	ev := sync.Get("rooms.join." + syncKey(room.String()) + `.account_data.events.#(type=="m.tag")`)
	return ev.Get("content.tags"), ev.Exists()
}

func TestRoomTags(t *testing.T) {
	forEachNavigationDB(t, func(t *testing.T, e *syncEnv) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		tags := syncPath("/user/%s/rooms/%s/tags", bob.String(), room.String())
		tag := func(name string) string { return tags + "/" + name }

		if got := e.do("GET", tags, bob, nil).ok(t); got.Raw != `{"tags":{}}` {
			t.Fatalf("no tags yet: %s", got.Raw)
		}
		first := e.do("GET", "/_matrix/client/v3/sync", bob, nil).ok(t)
		e.do("PUT", tag("m.favourite"), bob, map[string]any{"order": 0.5}).ok(t)
		e.do("PUT", tag("u.work"), bob, map[string]any{}).ok(t)

		got := e.do("GET", tags, bob, nil).ok(t)
		if got.Get(`tags.m\.favourite.order`).Float() != 0.5 || !got.Get(`tags.u\.work`).IsObject() || len(got.Get("tags").Map()) != 2 {
			t.Fatalf("GET tags: %s", got.Raw)
		}
		// A client sees them as the room's m.tag account data, in a full
		// sync and in an incremental one.
		for _, since := range []string{"", first.Get("next_batch").Str} {
			sync := e.do("GET", "/_matrix/client/v3/sync?since="+since, bob, nil).ok(t)
			inSync, ok := roomTagsInSync(sync, room)
			if !ok || inSync.Get(`m\.favourite.order`).Float() != 0.5 || !inSync.Get(`u\.work`).Exists() {
				t.Fatalf("m.tag in /sync (since %q): %s", since, sync.Get("rooms.join").Raw)
			}
		}
		// Alice's sync carries none of Bob's tags.
		if _, ok := roomTagsInSync(e.do("GET", "/_matrix/client/v3/sync", alice, nil).ok(t), room); ok {
			t.Fatal("bob's tags reached alice")
		}

		before := e.do("GET", "/_matrix/client/v3/sync", bob, nil).ok(t).Get("next_batch").Str
		e.do("DELETE", tag("m.favourite"), bob, nil).ok(t)
		got = e.do("GET", tags, bob, nil).ok(t)
		if got.Get(`tags.m\.favourite`).Exists() || !got.Get(`tags.u\.work`).Exists() {
			t.Fatalf("after DELETE: %s", got.Raw)
		}
		inSync, ok := roomTagsInSync(e.do("GET", "/_matrix/client/v3/sync?since="+before, bob, nil).ok(t), room)
		if !ok || inSync.Get(`m\.favourite`).Exists() || !inSync.Get(`u\.work`).Exists() {
			t.Fatalf("m.tag in /sync after DELETE: %s", inSync.Raw)
		}
		// Removing a tag the room does not have is fine.
		e.do("DELETE", tag("m.lowpriority"), bob, nil).ok(t)

		// The tags are the m.tag account data: either API sees the other's writes.
		adPath := syncPath("/user/%s/rooms/%s/account_data/m.tag", bob.String(), room.String())
		if got := e.do("GET", adPath, bob, nil).ok(t); !got.Get(`tags.u\.work`).Exists() {
			t.Fatalf("m.tag account data: %s", got.Raw)
		}
		e.do("PUT", adPath, bob, map[string]any{"tags": map[string]any{"u.home": map[string]any{"order": 0.1}}, "x": 1}).ok(t)
		e.do("PUT", tag("m.lowpriority"), bob, map[string]any{"order": 1, "org.example.extra": true}).ok(t)
		got = e.do("GET", adPath, bob, nil).ok(t)
		if got.Get(`tags.u\.home.order`).Float() != 0.1 || !got.Get(`tags.m\.lowpriority.org\.example\.extra`).Bool() || got.Get("x").Int() != 1 {
			t.Fatalf("m.tag after mixing the APIs: %s", got.Raw)
		}

		// Only the user themselves.
		e.do("GET", tags, alice, nil).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		e.do("PUT", tag("u.mine"), alice, map[string]any{}).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		e.do("DELETE", tag("u.home"), alice, nil).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		if got := e.do("GET", tags, bob, nil).ok(t); got.Get(`tags.u\.mine`).Exists() || !got.Get(`tags.u\.home`).Exists() {
			t.Fatalf("alice changed bob's tags: %s", got.Raw)
		}
	})
}

func TestRoomTagsConcurrentDevices(t *testing.T) {
	forEachNavigationDB(t, func(t *testing.T, e *syncEnv) {
		bob := e.User("bob")
		room := e.Room(bob, rooms.CreateRequest{})
		tags := syncPath("/user/%s/rooms/%s/tags", bob.String(), room.String())
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.do("PUT", fmt.Sprintf("%s/u.t%d", tags, i), bob, map[string]any{"order": float64(i) / 10})
			}()
		}
		wg.Wait()
		if got := e.do("GET", tags, bob, nil).ok(t); len(got.Get("tags").Map()) != 8 {
			t.Fatalf("concurrent PUTs lost tags: %s", got.Raw)
		}
	})
}

func TestRoomTagsBadInput(t *testing.T) {
	forEachNavigationDB(t, func(t *testing.T, e *syncEnv) {
		bob := e.User("bob")
		room := e.Room(bob, rooms.CreateRequest{})
		tags := syncPath("/user/%s/rooms/%s/tags", bob.String(), room.String())
		for _, c := range []struct {
			method, path string
			body         any
			status       int
			errcode      string
		}{
			{"PUT", tags + "/u.x", `{"order":`, 400, "M_NOT_JSON"},
			{"PUT", tags + "/u.x", `[0.5]`, 400, "M_BAD_JSON"},
			{"PUT", tags + "/u.x", `"fav"`, 400, "M_BAD_JSON"},
			{"PUT", tags + "/u.x", `{"order":"high"}`, 400, "M_BAD_JSON"},
			{"PUT", tags + "/u.x", `{"order":1e999}`, 400, "M_BAD_JSON"},
			{"PUT", tags + "/u.x", `{"order":1.5}`, 400, "M_INVALID_PARAM"},
			{"PUT", tags + "/u.x", `{"order":-0.1}`, 400, "M_INVALID_PARAM"},
			{"PUT", tags + "/" + strings.Repeat("t", 256), `{}`, 400, "M_INVALID_PARAM"},
			{"DELETE", tags + "/" + strings.Repeat("t", 256), nil, 400, "M_INVALID_PARAM"},
			{"PUT", tags + "/u.%FF", `{}`, 400, "M_INVALID_PARAM"},
			{"GET", syncPath("/user/%s/rooms/%s/tags", bob.String(), "nope"), nil, 400, "M_INVALID_PARAM"},
			{"PUT", syncPath("/user/%s/rooms/%s/tags/u.x", bob.String(), "nope"), `{}`, 400, "M_INVALID_PARAM"},
			{"GET", tags, "", 401, "M_MISSING_TOKEN"},
		} {
			as := bob
			if c.status == 401 {
				as = ""
			}
			e.do(c.method, c.path, as, c.body).fails(t, c.status, c.errcode)
		}
		// A 255-byte name is fine; the body is optional.
		long := strings.Repeat("t", 255)
		e.do("PUT", tags+"/"+long, bob, "").ok(t)
		e.do("PUT", tags+"/u.null", bob, `{"order":null}`).ok(t)
		if got := e.do("GET", tags, bob, nil).ok(t); !got.Get("tags."+long).Exists() || !got.Get(`tags.u\.null`).Exists() || got.Get(`tags.u\.x`).Exists() {
			t.Fatalf("tags: %s", got.Raw)
		}
	})
}
