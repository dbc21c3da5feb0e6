package sync_test

import (
	"fmt"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

func TestInitialAndIncrementalSync(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		name := "Tea"
		room := e.Room(alice, rooms.CreateRequest{Name: &name}, bob)
		for i := 0; i < 12; i++ {
			e.Text(room, alice, fmt.Sprintf("hello %d", i))
		}
		res := e.sync(bob, syncOpts{})
		r := joined(res, room)
		if !r.Exists() {
			t.Fatalf("room missing from bob's initial sync: %s", res.Raw)
		}
		var want []string
		for i := 2; i < 12; i++ {
			want = append(want, fmt.Sprintf("hello %d", i))
		}
		eq(t, "timeline", bodies(r), want)
		if !r.Get("timeline.limited").Bool() {
			t.Errorf("timeline should be limited: %s", r.Get("timeline").Raw)
		}
		stateTypes := map[string]bool{}
		for _, ev := range r.Get("state.events").Array() {
			stateTypes[ev.Get("type").Str] = true
		}
		for _, want := range []string{"m.room.create", "m.room.power_levels", "m.room.name", "m.room.member", "m.room.join_rules"} {
			if !stateTypes[want] {
				t.Errorf("state lacks %s: %v", want, stateTypes)
			}
		}
		if got := r.Get("summary.m\\.joined_member_count").Int(); got != 2 {
			t.Errorf("joined_member_count = %d", got)
		}
		if got := r.Get("unread_notifications.notification_count").Int(); got != 12 {
			t.Errorf("notification_count = %d, want 12", got)
		}
		ev := r.Get("timeline.events.0")
		if !ev.Get("unsigned.age").Exists() || ev.Get("event_id").Str == "" || ev.Get("sender").Str != alice.String() {
			t.Errorf("bad event: %s", ev.Raw)
		}
		next := res.Get("next_batch").Str

		// Incremental: only the new message.
		e.Text(room, alice, "later")
		res2 := e.sync(bob, syncOpts{since: next})
		r2 := joined(res2, room)
		eq(t, "incremental timeline", bodies(r2), []string{"later"})
		if r2.Get("timeline.limited").Bool() {
			t.Errorf("incremental timeline should not be limited")
		}
		if n := len(r2.Get("state.events").Array()); n != 0 {
			t.Errorf("incremental state should be empty, got %d", n)
		}
		// Nothing new: the room is absent.
		res3 := e.sync(bob, syncOpts{since: res2.Get("next_batch").Str})
		if joined(res3, room).Exists() {
			t.Errorf("room present with nothing new: %s", res3.Raw)
		}
	})
}
