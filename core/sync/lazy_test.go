package sync_test

import (
	"sort"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

const lazyFilter = `{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":3}}}`

// memberKeys lists the state keys of the member events in evs, sorted.
func memberKeys(evs gjson.Result) []string {
	var out []string
	for _, ev := range evs.Array() {
		if ev.Get("type").Str == "m.room.member" {
			out = append(out, ev.Get("state_key").Str)
		}
	}
	sort.Strings(out)
	return out
}

func TestLazyLoadMembers(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob, carol, dave := e.User("alice"), e.User("bob"), e.User("carol"), e.User("dave")
		room := e.Room(alice, rooms.CreateRequest{}, bob, carol, dave)
		e.Text(room, carol, "carol speaks")
		e.Text(room, alice, "alice speaks")
		e.Text(room, alice, "alice again")

		// Without lazy loading every member is in the state.
		full := joined(e.sync(bob, syncOpts{filter: `{"room":{"timeline":{"limit":3}}}`}), room)
		eq(t, "all members", memberKeys(full.Get("state.events")),
			[]string{alice.String(), bob.String(), carol.String(), dave.String()})

		res := e.sync(bob, syncOpts{filter: lazyFilter})
		r := joined(res, room)
		// Senders (alice, carol), the user (bob) and the heroes; dave is
		// only included as a hero (heroes are the first 5 other members).
		got := memberKeys(r.Get("state.events"))
		for _, want := range []string{alice.String(), bob.String(), carol.String()} {
			if !contains(got, want) {
				t.Errorf("lazy state lacks %s: %v", want, got)
			}
		}
		heroes := r.Get(`summary.m\.heroes`).Array()
		if len(heroes) != 3 || r.Get(`summary.m\.joined_member_count`).Int() != 4 {
			t.Errorf("summary = %s", r.Get("summary").Raw)
		}

		// Incremental: a new sender's member event comes along.
		next := res.Get("next_batch").Str
		e.Text(room, dave, "dave speaks")
		inc := joined(e.sync(bob, syncOpts{since: next, filter: lazyFilter}), room)
		eq(t, "incremental lazy members", memberKeys(inc.Get("state.events")), []string{dave.String()})

		// /messages with lazy loading returns the senders' member events.
		f, err := gsync.ParseRoomEventFilter([]byte(`{"lazy_load_members":true}`))
		if err != nil {
			t.Fatal(err)
		}
		page := e.messages(gsync.MessagesRequest{UserID: bob, RoomID: room, Backwards: true, Limit: 2, Filter: f})
		eq(t, "messages lazy state", memberKeys(page.Get("state")), []string{alice.String(), dave.String()})
	})
}

func TestLazyLoadHeroesWhenNoSenders(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		r := joined(e.sync(bob, syncOpts{filter: `{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":0}}}`}), room)
		if n := len(r.Get("timeline.events").Array()); n != 0 {
			t.Errorf("timeline limit 0 returned %d events", n)
		}
		if !r.Get("timeline.limited").Bool() {
			t.Error("empty timeline of a non-empty room should be limited")
		}
		eq(t, "own and hero members", memberKeys(r.Get("state.events")), []string{alice.String(), bob.String()})
		eq(t, "heroes", []string{r.Get(`summary.m\.heroes.0`).Str}, []string{alice.String()})
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
