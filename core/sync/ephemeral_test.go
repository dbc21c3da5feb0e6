package sync_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/gatehouse-chat/gatehouse/core/receipts"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

// ephemeral returns the ephemeral event of type typ in a joined room.
func ephemeral(r gjson.Result, typ string) gjson.Result {
	for _, ev := range r.Get("ephemeral.events").Array() {
		if ev.Get("type").Str == typ {
			return ev
		}
	}
	return gjson.Result{}
}

func TestTypingAppearsAndClears(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		next := e.sync(bob, syncOpts{}).Get("next_batch").Str

		done := make(chan gjson.Result, 1)
		go func() { done <- e.sync(bob, syncOpts{since: next, timeout: 20 * time.Second}) }()
		time.Sleep(30 * time.Millisecond)
		if err := e.Typing.Set(e.Ctx, room, alice, true, 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		var res gjson.Result
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("typing did not wake the sync")
		}
		typing := ephemeral(joined(res, room), "m.typing")
		eq(t, "typing users", strs(typing.Get("content.user_ids")), []string{alice.String()})

		// The notification times out on its own and the sync sees it clear.
		res = e.sync(bob, syncOpts{since: res.Get("next_batch").Str, timeout: 10 * time.Second})
		typing = ephemeral(joined(res, room), "m.typing")
		if !typing.Exists() || len(typing.Get("content.user_ids").Array()) != 0 {
			t.Fatalf("typing did not clear: %s", res.Raw)
		}

		// Refreshing an ongoing notification is not news.
		if err := e.Typing.Set(e.Ctx, room, alice, true, time.Minute); err != nil {
			t.Fatal(err)
		}
		next = e.sync(bob, syncOpts{since: res.Get("next_batch").Str}).Get("next_batch").Str
		if err := e.Typing.Set(e.Ctx, room, alice, true, time.Minute); err != nil {
			t.Fatal(err)
		}
		if joined(e.sync(bob, syncOpts{since: next}), room).Exists() {
			t.Error("refreshing typing produced a sync entry")
		}
		if err := e.Typing.Set(e.Ctx, room, alice, false, 0); err != nil {
			t.Fatal(err)
		}
		typing = ephemeral(joined(e.sync(bob, syncOpts{since: next}), room), "m.typing")
		if !typing.Exists() || len(typing.Get("content.user_ids").Array()) != 0 {
			t.Errorf("stopped typing not reported: %s", typing.Raw)
		}
		// Outsiders cannot type.
		if err := e.Typing.Set(e.Ctx, room, e.User("carol"), true, time.Second); errCode(err) != "M_FORBIDDEN" {
			t.Errorf("outsider typing: %v", err)
		}
	})
}

func strs(v gjson.Result) []string {
	var out []string
	for _, x := range v.Array() {
		out = append(out, x.Str)
	}
	return out
}

func TestReceiptsAndUnreadCounts(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		e.Text(room, alice, "one")
		second := e.Text(room, alice, "two")
		e.Text(room, alice, "three")
		res := e.sync(bob, syncOpts{})
		if n := joined(res, room).Get("unread_notifications.notification_count").Int(); n != 3 {
			t.Fatalf("unread = %d, want 3", n)
		}
		aliceNext := e.sync(alice, syncOpts{}).Get("next_batch").Str
		bobNext := res.Get("next_batch").Str

		if err := e.Receipts.Set(e.Ctx, room, bob, receipts.Read, second.ID, ""); err != nil {
			t.Fatal(err)
		}
		// Alice sees bob's receipt.
		rcpt := ephemeral(joined(e.sync(alice, syncOpts{since: aliceNext}), room), "m.receipt")
		key := gjsonKey(second.ID.String()) + `.m\.read.` + gjsonKey(bob.String()) + ".ts"
		if !rcpt.Get("content." + key).Exists() {
			t.Fatalf("alice does not see bob's receipt: %s", rcpt.Raw)
		}
		// Bob's count drops to the one unread message.
		r := joined(e.sync(bob, syncOpts{since: bobNext}), room)
		if n := r.Get("unread_notifications.notification_count").Int(); n != 1 {
			t.Errorf("unread after receipt = %d, want 1 (%s)", n, r.Raw)
		}
		first := e.Text(room, alice, "four")
		if err := e.Receipts.Set(e.Ctx, room, bob, receipts.ReadPrivate, first.ID, ""); err != nil {
			t.Fatal(err)
		}
		aliceNext = e.sync(alice, syncOpts{}).Get("next_batch").Str
		last := e.Text(room, alice, "five")
		if err := e.Receipts.Set(e.Ctx, room, bob, receipts.ReadPrivate, last.ID, ""); err != nil {
			t.Fatal(err)
		}
		// Private receipts are invisible to alice, visible to bob, and clear counts.
		if r := joined(e.sync(alice, syncOpts{since: aliceNext}), room); ephemeral(r, "m.receipt").Exists() {
			t.Errorf("alice sees bob's private receipt: %s", r.Raw)
		}
		r = joined(e.sync(bob, syncOpts{}), room)
		if !ephemeral(r, "m.receipt").Get("content." + gjsonKey(last.ID.String()) + `.m\.read\.private`).Exists() {
			t.Errorf("bob does not see his private receipt: %s", ephemeral(r, "m.receipt").Raw)
		}
		if n := r.Get("unread_notifications.notification_count").Int(); n != 0 {
			t.Errorf("unread after private receipt = %d", n)
		}
		// Receipts need membership and an event of the room.
		if err := e.Receipts.Set(e.Ctx, room, e.User("carol"), receipts.Read, last.ID, ""); errCode(err) != "M_FORBIDDEN" {
			t.Errorf("outsider receipt: %v", err)
		}
		if err := e.Receipts.Set(e.Ctx, room, bob, receipts.Read, "$nope", ""); errCode(err) != "M_NOT_FOUND" {
			t.Errorf("unknown event receipt: %v", err)
		}
	})
}

func TestHighlightCounts(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		e.Profiles.SetName(bob, "Bobby Tables")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		e.Text(room, alice, "hi Bobby Tables!") // display name
		e.Text(room, alice, "ping bob")         // localpart (content rule)
		e.Send(room, alice, "m.room.message", map[string]any{"msgtype": "m.text", "body": "x",
			"m.mentions": map[string]any{"user_ids": []string{bob.String()}}}) // intentional mention
		e.Send(room, alice, "m.room.message", map[string]any{"msgtype": "m.text", "body": "Bobby Tables",
			"m.mentions": map[string]any{}}) // m.mentions disables the legacy rules
		e.Send(room, alice, "m.room.message", map[string]any{"msgtype": "m.notice", "body": "bob"}) // notices never notify
		e.Send(room, alice, "m.reaction", map[string]any{})
		r := joined(e.sync(bob, syncOpts{}), room)
		if n, h := r.Get("unread_notifications.notification_count").Int(), r.Get("unread_notifications.highlight_count").Int(); n != 4 || h != 3 {
			t.Errorf("counts = %d/%d, want 4 notifications, 3 highlights", n, h)
		}
		// Own messages never count.
		if n := joined(e.sync(alice, syncOpts{}), room).Get("unread_notifications.notification_count").Int(); n != 0 {
			t.Errorf("alice counts her own messages: %d", n)
		}
	})
}

func TestAccountDataInSync(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		res := e.sync(bob, syncOpts{})
		var pushRules gjson.Result
		for _, ev := range res.Get("account_data.events").Array() {
			if ev.Get("type").Str == "m.push_rules" {
				pushRules = ev
			}
		}
		if !pushRules.Get("content.global.override").IsArray() {
			t.Fatalf("initial sync lacks m.push_rules: %s", res.Get("account_data").Raw)
		}
		next := res.Get("next_batch").Str
		if err := e.Account.Set(e.Ctx, bob, "", "org.example.settings", json.RawMessage(`{"theme":"dark"}`)); err != nil {
			t.Fatal(err)
		}
		if err := e.Account.Set(e.Ctx, bob, room, "m.tag", json.RawMessage(`{"tags":{"u.work":{}}}`)); err != nil {
			t.Fatal(err)
		}
		res = e.sync(bob, syncOpts{since: next})
		if got := types(res.Get("account_data.events")); len(got) != 1 || got[0] != "org.example.settings" {
			t.Errorf("global account data = %v", got)
		}
		if res.Get("account_data.events.0.content.theme").Str != "dark" {
			t.Errorf("content = %s", res.Get("account_data.events.0").Raw)
		}
		r := joined(res, room)
		if r.Get("account_data.events.0.type").Str != "m.tag" || !r.Get(`account_data.events.0.content.tags.u\.work`).Exists() {
			t.Errorf("room account data = %s", r.Get("account_data").Raw)
		}
		// Alice sees none of it.
		ares := e.sync(alice, syncOpts{})
		for _, ev := range ares.Get("account_data.events").Array() {
			if ev.Get("type").Str == "org.example.settings" {
				t.Error("alice sees bob's account data")
			}
		}
	})
}
