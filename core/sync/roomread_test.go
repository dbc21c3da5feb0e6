package sync_test

import (
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/gatehouse-chat/gatehouse/core/presence"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

func TestUnsignedData(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		next := e.sync(bob, syncOpts{}).Get("next_batch").Str
		sent, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: bob, Type: "m.room.message",
			Content: json.RawMessage(`{"msgtype":"m.text","body":"oops"}`), DeviceID: "PHONE", TxnID: "txn1"})
		if err != nil {
			t.Fatal(err)
		}
		redaction, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: bob, Type: "m.room.redaction",
			Redacts: sent.ID, Content: json.RawMessage(`{"reason":"typo"}`)})
		if err != nil {
			t.Fatal(err)
		}
		e.State(room, alice, "m.room.topic", "", map[string]string{"topic": "first"})
		e.State(room, alice, "m.room.topic", "", map[string]string{"topic": "second"})

		find := func(res gjson.Result, eventID string) gjson.Result {
			for _, ev := range joined(res, room).Get("timeline.events").Array() {
				if ev.Get("event_id").Str == eventID {
					return ev
				}
			}
			t.Fatalf("event %s not in timeline", eventID)
			return gjson.Result{}
		}
		phone := e.sync(bob, syncOpts{since: next, device: "PHONE"})
		ev := find(phone, sent.ID.String())
		if ev.Get("unsigned.transaction_id").Str != "txn1" {
			t.Errorf("no transaction_id for the sending device: %s", ev.Raw)
		}
		if ev.Get("content.body").Exists() || ev.Get("unsigned.redacted_because.event_id").Str != redaction.ID.String() {
			t.Errorf("redacted event: %s", ev.Raw)
		}
		laptop := e.sync(bob, syncOpts{since: next, device: "LAPTOP"})
		if find(laptop, sent.ID.String()).Get("unsigned.transaction_id").Exists() {
			t.Error("transaction_id leaked to another device")
		}
		timeline := joined(laptop, room).Get("timeline.events").Array()
		topic := timeline[len(timeline)-1]
		if topic.Get("unsigned.prev_content.topic").Str != "first" || topic.Get("unsigned.replaces_state").Str == "" {
			t.Errorf("prev_content: %s", topic.Raw)
		}
	})
}

func TestContextEventAndState(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		var ids []string
		for _, body := range []string{"a", "b", "c", "d", "e"} {
			ids = append(ids, e.Text(room, alice, body).ID.String())
		}
		body, err := e.Sync.Context(e.Ctx, &gsync.ContextRequest{UserID: bob, RoomID: room, EventID: idOf(ids[2]), Limit: 4})
		if err != nil {
			t.Fatal(err)
		}
		c := gjson.ParseBytes(body)
		if c.Get("event.content.body").Str != "c" {
			t.Fatalf("context event: %s", c.Raw)
		}
		eq(t, "events_before", bodiesOf(c.Get("events_before")), []string{"b", "a"})
		eq(t, "events_after", bodiesOf(c.Get("events_after")), []string{"d", "e"})
		if !contains(types(c.Get("state")), "m.room.create") || c.Get("start").Str == "" || c.Get("end").Str == "" {
			t.Errorf("context state/tokens: %s", c.Raw)
		}
		// Paginating back from start continues before "a".
		start, _ := gsync.ParseToken(c.Get("start").Str)
		page := e.messages(gsync.MessagesRequest{UserID: bob, RoomID: room, From: &start, Backwards: true, Limit: 1})
		if page.Get("chunk.0.content.body").Exists() {
			t.Errorf("event before a has a body: %s", page.Raw)
		}

		one, err := e.Sync.Event(e.Ctx, bob, "", room, idOf(ids[4]))
		if err != nil || gjson.GetBytes(one, "content.body").Str != "e" {
			t.Errorf("event: %s %v", one, err)
		}
		if _, err := e.Sync.Event(e.Ctx, carol, "", room, idOf(ids[4])); errCode(err) != "M_FORBIDDEN" {
			t.Errorf("outsider event: %v", err)
		}
		if _, err := e.Sync.Event(e.Ctx, bob, "", room, "$missing"); errCode(err) != "M_NOT_FOUND" {
			t.Errorf("missing event: %v", err)
		}

		// State: current for members; at the leave for users who left.
		e.State(room, alice, "m.room.topic", "", map[string]string{"topic": "old"})
		e.Leave(room, bob, bob)
		e.State(room, alice, "m.room.topic", "", map[string]string{"topic": "new"})
		topic := func(user string) string {
			raw, err := e.Sync.StateEvent(e.Ctx, e.User(user), room, "m.room.topic", "", false)
			if err != nil {
				t.Fatalf("state event as %s: %v", user, err)
			}
			return gjson.GetBytes(raw, "topic").Str
		}
		if topic("alice") != "new" || topic("bob") != "old" {
			t.Errorf("topics: alice %q, bob %q", topic("alice"), topic("bob"))
		}
		if _, err := e.Sync.StateEvent(e.Ctx, alice, room, "m.room.nothing", "", false); errCode(err) != "M_NOT_FOUND" {
			t.Errorf("missing state: %v", err)
		}
		all, err := e.Sync.State(e.Ctx, bob, room)
		if err != nil || !contains(types(gjson.ParseBytes(all)), "m.room.power_levels") {
			t.Errorf("state: %s %v", all, err)
		}
		if _, err := e.Sync.State(e.Ctx, carol, room); errCode(err) != "M_FORBIDDEN" {
			t.Errorf("outsider state: %v", err)
		}

		// Members with filters, and joined_members.
		members, err := e.Sync.Members(e.Ctx, &gsync.MembersRequest{UserID: alice, RoomID: room, Membership: "leave"})
		if err != nil || len(gjson.GetBytes(members, "chunk").Array()) != 1 ||
			gjson.GetBytes(members, "chunk.0.state_key").Str != bob.String() {
			t.Errorf("members?membership=leave: %s %v", members, err)
		}
		jm, err := e.Sync.JoinedMembers(e.Ctx, alice, room)
		raw, _ := json.Marshal(jm)
		if err != nil || !gjson.GetBytes(raw, "joined."+gjsonKey(alice.String())).Exists() ||
			gjson.GetBytes(raw, "joined."+gjsonKey(bob.String())).Exists() {
			t.Errorf("joined_members: %s %v", raw, err)
		}
		jr, _ := e.Sync.JoinedRooms(e.Ctx, bob)
		raw, _ = json.Marshal(jr)
		if string(raw) != `{"joined_rooms":[]}` {
			t.Errorf("joined_rooms after leaving: %s", raw)
		}
	})
}

func bodiesOf(evs gjson.Result) []string {
	var out []string
	for _, ev := range evs.Array() {
		out = append(out, ev.Get("content.body").Str)
	}
	return out
}

func TestPresenceInSync(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		e.Room(alice, rooms.CreateRequest{}, bob)
		next := e.sync(bob, syncOpts{}).Get("next_batch").Str
		msg := "making tea"
		if err := e.Presence.Set(e.Ctx, alice, presence.Unavailable, &msg); err != nil {
			t.Fatal(err)
		}
		if err := e.Presence.Set(e.Ctx, carol, presence.Online, nil); err != nil {
			t.Fatal(err)
		}
		res := e.sync(bob, syncOpts{since: next})
		evs := res.Get("presence.events").Array()
		if len(evs) != 1 || evs[0].Get("sender").Str != alice.String() ||
			evs[0].Get("content.presence").Str != "unavailable" || evs[0].Get("content.status_msg").Str != msg {
			t.Fatalf("presence = %s", res.Get("presence").Raw)
		}
		if ok, _ := e.Presence.CanSee(e.Ctx, bob, carol); ok {
			t.Error("bob may see carol's presence without sharing a room")
		}
	})
}
