package sync_test

import (
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

func TestInviteState(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		name := "Secret plans"
		room := e.Room(alice, rooms.CreateRequest{Name: &name})
		e.Text(room, alice, "hidden history")
		next := e.sync(bob, syncOpts{}).Get("next_batch").Str
		e.Invite(room, alice, bob)

		res := e.sync(bob, syncOpts{since: next})
		inv := res.Get("rooms.invite." + gjsonKey(room.String()) + ".invite_state.events")
		if !inv.Exists() {
			t.Fatalf("no invite: %s", res.Raw)
		}
		seen := map[string]bool{}
		for _, ev := range inv.Array() {
			seen[ev.Get("type").Str+"|"+ev.Get("state_key").Str] = true
			if ev.Get("content.body").Exists() {
				t.Errorf("message leaked into invite_state: %s", ev.Raw)
			}
		}
		for _, want := range []string{"m.room.create|", "m.room.join_rules|", "m.room.name|",
			"m.room.member|" + bob.String(), "m.room.member|" + alice.String()} {
			if !seen[want] {
				t.Errorf("invite_state lacks %s: %s", want, inv.Raw)
			}
		}
		if joined(res, room).Exists() {
			t.Error("invited room listed as joined")
		}
		// The initial sync shows the invite too, and nothing once joined.
		if !e.sync(bob, syncOpts{}).Get("rooms.invite." + gjsonKey(room.String())).Exists() {
			t.Error("initial sync lacks the invite")
		}
		next = res.Get("next_batch").Str
		e.Join(room, bob)
		res = e.sync(bob, syncOpts{since: next, filter: `{"room":{"timeline":{"limit":3}}}`})
		r := joined(res, room)
		// A newly joined room comes with its full state, like an initial sync.
		if got := types(r.Get("state.events")); !contains(got, "m.room.create") || !contains(got, "m.room.name") {
			t.Fatalf("newly joined room lacks state: %s", res.Raw)
		}
		eq(t, "newly joined timeline", bodies(r), []string{"hidden history"})
		if res.Get("rooms.invite." + gjsonKey(room.String())).Exists() {
			t.Error("joined room still listed as invited")
		}
	})
}

func TestLeaveSection(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		e.Text(room, alice, "before kick")
		next := e.sync(bob, syncOpts{}).Get("next_batch").Str
		e.Text(room, alice, "last words")
		e.Leave(room, alice, bob) // a kick
		e.Text(room, alice, "after kick")

		res := e.sync(bob, syncOpts{since: next})
		left := res.Get("rooms.leave." + gjsonKey(room.String()))
		if !left.Exists() || joined(res, room).Exists() {
			t.Fatalf("kicked room not in leave: %s", res.Raw)
		}
		evs := left.Get("timeline.events").Array()
		last := evs[len(evs)-1]
		if last.Get("type").Str != "m.room.member" || last.Get("content.membership").Str != "leave" ||
			last.Get("sender").Str != alice.String() {
			t.Errorf("leave timeline should end with the kick: %s", left.Get("timeline").Raw)
		}
		eq(t, "leave timeline", bodies(left), []string{"last words"})

		// Initial syncs list left rooms only with include_leave.
		if e.sync(bob, syncOpts{}).Get("rooms.leave." + gjsonKey(room.String())).Exists() {
			t.Error("initial sync lists a left room without include_leave")
		}
		withLeave := e.sync(bob, syncOpts{filter: `{"room":{"include_leave":true}}`})
		l := withLeave.Get("rooms.leave." + gjsonKey(room.String()))
		if !l.Exists() || contains(bodies(l), "after kick") {
			t.Errorf("include_leave: %s", l.Raw)
		}
		// Forgotten rooms disappear.
		if err := e.Rooms.Forget(e.Ctx, bob, room); err != nil {
			t.Fatal(err)
		}
		if e.sync(bob, syncOpts{since: next}).Get("rooms.leave." + gjsonKey(room.String())).Exists() {
			t.Error("forgotten room still in leave")
		}
	})
}

func TestHistoryVisibility(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		joinedOnly := e.Room(alice, rooms.CreateRequest{})
		e.State(joinedOnly, alice, "m.room.history_visibility", "", map[string]string{"history_visibility": "joined"})
		e.Text(joinedOnly, alice, "before bob")
		shared := e.Room(alice, rooms.CreateRequest{})
		e.Text(shared, alice, "shared before bob")
		e.Invite(joinedOnly, alice, bob)
		e.Join(joinedOnly, bob)
		e.Invite(shared, alice, bob)
		e.Join(shared, bob)
		e.Text(joinedOnly, alice, "after bob")

		res := e.sync(bob, syncOpts{})
		eq(t, "joined-only history", bodies(joined(res, joinedOnly)), []string{"after bob"})
		eq(t, "shared history", bodies(joined(res, shared)), []string{"shared before bob"})
		page := e.messages(messagesBack(bob, joinedOnly))
		eq(t, "messages joined-only", chunkBodies(page), []string{"after bob"})

		// world_readable rooms can be read by anyone, members or not.
		e.State(shared, alice, "m.room.history_visibility", "", map[string]string{"history_visibility": "world_readable"})
		e.Text(shared, alice, "for the world")
		page = e.messages(messagesBack(carol, shared))
		eq(t, "world readable", chunkBodies(page), []string{"for the world"})
	})
}
