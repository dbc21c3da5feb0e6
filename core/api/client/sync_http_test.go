package client

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

func TestSyncEndpointBadInput(t *testing.T) {
	forEachSyncDB(t, func(t *testing.T, e *syncEnv) {
		bob := e.User("bob")
		for _, c := range []struct{ query, code string }{
			{"since=garbage", "M_INVALID_PARAM"},
			{"since=s-4", "M_INVALID_PARAM"},
			{"timeout=soon", "M_INVALID_PARAM"},
			{"full_state=yes", "M_INVALID_PARAM"},
			{"set_presence=busy", "M_INVALID_PARAM"},
			{"filter=" + url.QueryEscape(`{"room":`), "M_BAD_JSON"},
			{"filter=" + url.QueryEscape(`{"room":{"timeline":{"limit":"x"}}}`), "M_BAD_JSON"},
			{"filter=999", "M_INVALID_PARAM"},
		} {
			e.do("GET", "/_matrix/client/v3/sync?"+c.query, bob, nil).fails(t, http.StatusBadRequest, c.code)
		}
		e.do("GET", "/_matrix/client/v3/sync", "", nil).fails(t, http.StatusUnauthorized, "M_MISSING_TOKEN")
	})
}

func TestSyncEndpoint(t *testing.T) {
	forEachSyncDB(t, func(t *testing.T, e *syncEnv) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		filterID := e.do("POST", syncPath("/user/%s/filter", bob.String()), bob,
			map[string]any{"room": map[string]any{"timeline": map[string]any{"limit": 2}}}).ok(t).Get("filter_id").Str
		e.Text(room, alice, "one")
		e.Text(room, alice, "two")
		e.Text(room, alice, "three")
		res := e.do("GET", "/_matrix/client/v3/sync?set_presence=offline&filter="+filterID, bob, nil).ok(t)
		r := res.Get("rooms.join." + syncKey(room.String()))
		if got := r.Get("timeline.events.#.content.body").Raw; got != `["two","three"]` {
			t.Fatalf("timeline = %s", got)
		}
		// Legacy r0 path, long poll woken by a send.
		done := make(chan syncResp, 1)
		go func() {
			done <- e.do("GET", "/_matrix/client/r0/sync?set_presence=offline&timeout=20000&since="+res.Get("next_batch").Str, bob, nil)
		}()
		time.Sleep(30 * time.Millisecond)
		e.Text(room, alice, "four")
		select {
		case resp := <-done:
			body := resp.ok(t)
			if got := body.Get("rooms.join." + syncKey(room.String()) + ".timeline.events.0.content.body").Str; got != "four" {
				t.Errorf("woken sync: %s", body.Raw)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("long poll did not wake")
		}
		// Filters are private.
		e.do("GET", syncPath("/user/%s/filter/%s", bob.String(), filterID), bob, nil).ok(t)
		e.do("GET", syncPath("/user/%s/filter/%s", bob.String(), filterID), alice, nil).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		e.do("POST", syncPath("/user/%s/filter", bob.String()), alice, map[string]any{}).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		e.do("POST", syncPath("/user/%s/filter", bob.String()), bob, "{nope").fails(t, http.StatusBadRequest, "M_NOT_JSON")
		e.do("GET", syncPath("/user/%s/filter/%s", bob.String(), "77"), bob, nil).fails(t, http.StatusNotFound, "M_NOT_FOUND")
		if got := e.do("GET", "/_matrix/client/v3/joined_rooms", bob, nil).ok(t).Get("joined_rooms.0").Str; got != room.String() {
			t.Errorf("joined_rooms: %s", got)
		}
		// Syncing without set_presence marks the user online (in the background).
		e.do("GET", "/_matrix/client/v3/sync", alice, nil).ok(t)
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, err := e.Presence.Get(e.Ctx, alice)
			if err != nil {
				t.Fatal(err)
			}
			if st.State == "online" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("alice not online after syncing: %+v", st)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestRoomReadEndpoints(t *testing.T) {
	forEachSyncDB(t, func(t *testing.T, e *syncEnv) {
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		name := "Reading room"
		room := e.Room(alice, rooms.CreateRequest{Name: &name}, bob)
		ev := e.Text(room, alice, "hello")
		r := room.String()
		msgs := e.do("GET", syncPath("/rooms/%s/messages", r)+"?dir=b&limit=1", bob, nil).ok(t)
		if msgs.Get("chunk.0.content.body").Str != "hello" || msgs.Get("start").Str == "" || msgs.Get("end").Str == "" {
			t.Errorf("messages: %s", msgs.Raw)
		}
		e.do("GET", syncPath("/rooms/%s/messages", r)+"?dir=sideways", bob, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", syncPath("/rooms/%s/messages", r)+"?dir=b&from=xyz", bob, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", syncPath("/rooms/%s/messages", r)+"?dir=b&limit=-1", bob, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", syncPath("/rooms/%s/messages", r)+"?dir=b&filter=%7B", bob, nil).fails(t, 400, "M_BAD_JSON")
		e.do("GET", syncPath("/rooms/%s/messages", r)+"?dir=b", carol, nil).fails(t, 403, "M_FORBIDDEN")
		e.do("GET", syncPath("/rooms/%s/messages", "not-a-room")+"?dir=b", bob, nil).fails(t, 400, "M_INVALID_PARAM")

		ctx := e.do("GET", syncPath("/rooms/%s/context/%s", r, ev.ID.String())+"?limit=2", bob, nil).ok(t)
		if ctx.Get("event.event_id").Str != ev.ID.String() || len(ctx.Get("events_before").Array()) != 1 {
			t.Errorf("context: %s", ctx.Raw)
		}
		got := e.do("GET", syncPath("/rooms/%s/event/%s", r, ev.ID.String()), bob, nil).ok(t)
		if got.Get("content.body").Str != "hello" || !got.Get("unsigned.age").Exists() {
			t.Errorf("event: %s", got.Raw)
		}
		e.do("GET", syncPath("/rooms/%s/event/%s", r, "$nope"), bob, nil).fails(t, 404, "M_NOT_FOUND")

		if got := e.do("GET", syncPath("/rooms/%s/state/m.room.name", r), bob, nil).ok(t); got.Get("name").Str != name {
			t.Errorf("state/m.room.name: %s", got.Raw)
		}
		if got := e.do("GET", syncPath("/rooms/%s/state/m.room.name/", r), bob, nil).ok(t); got.Get("name").Str != name {
			t.Errorf("state/m.room.name/: %s", got.Raw)
		}
		if got := e.do("GET", syncPath("/rooms/%s/state/m.room.member/%s", r, bob.String())+"?format=event", bob, nil).ok(t); got.Get("content.membership").Str != "join" || got.Get("state_key").Str != bob.String() {
			t.Errorf("member state as event: %s", got.Raw)
		}
		e.do("GET", syncPath("/rooms/%s/state/m.room.topic", r), bob, nil).fails(t, 404, "M_NOT_FOUND")
		if n := len(e.do("GET", syncPath("/rooms/%s/state", r), bob, nil).ok(t).Array()); n < 6 {
			t.Errorf("state has %d events", n)
		}
		members := e.do("GET", syncPath("/rooms/%s/members", r)+"?membership=join", bob, nil).ok(t)
		if len(members.Get("chunk").Array()) != 2 {
			t.Errorf("members: %s", members.Raw)
		}
		e.do("GET", syncPath("/rooms/%s/members", r)+"?membership=lurking", bob, nil).fails(t, 400, "M_INVALID_PARAM")
		jm := e.do("GET", syncPath("/rooms/%s/joined_members", r), bob, nil).ok(t)
		if !jm.Get("joined." + syncKey(alice.String())).Exists() {
			t.Errorf("joined_members: %s", jm.Raw)
		}
		e.do("GET", syncPath("/rooms/%s/joined_members", r), carol, nil).fails(t, 403, "M_FORBIDDEN")
	})
}
