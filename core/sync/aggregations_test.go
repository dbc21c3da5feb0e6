package sync_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// sendAt sends an event with a chosen origin_server_ts (0: now).
func (e *env) sendAt(room id.RoomID, sender id.UserID, evType string, content any, ts int64) id.EventID {
	e.T.Helper()
	raw, err := json.Marshal(content)
	if err != nil {
		e.T.Fatal(err)
	}
	ev, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: sender, Type: evType, Content: raw, TS: ts})
	if err != nil {
		e.T.Fatalf("send %s: %v", evType, err)
	}
	return ev.ID
}

func (e *env) redact(room id.RoomID, sender id.UserID, target id.EventID) {
	e.T.Helper()
	if _, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: sender, Type: "m.room.redaction",
		Redacts: target, Content: json.RawMessage(`{}`)}); err != nil {
		e.T.Fatalf("redact: %v", err)
	}
}

func editOf(target id.EventID, body string) map[string]any {
	return map[string]any{"msgtype": "m.text", "body": "* " + body,
		"m.new_content": map[string]any{"msgtype": "m.text", "body": body},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": target}}
}

func threadReply(root id.EventID, body string) map[string]any {
	return map[string]any{"msgtype": "m.text", "body": body,
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root, "is_falling_back": true,
			"m.in_reply_to": map[string]any{"event_id": root}}}
}

func text(body string) map[string]any { return map[string]any{"msgtype": "m.text", "body": body} }

// findEvent returns the event with eventID in a list of events.
func findEvent(t testing.TB, evs gjson.Result, eventID id.EventID) gjson.Result {
	t.Helper()
	for _, ev := range evs.Array() {
		if ev.Get("event_id").Str == string(eventID) {
			return ev
		}
	}
	t.Fatalf("event %s not in %s", eventID, evs.Raw)
	return gjson.Result{}
}

func relationsOf(ev gjson.Result, relType string) gjson.Result {
	return ev.Get(`unsigned.m\.relations.` + gjsonKey(relType))
}

// readPaths returns the event as /sync, /messages, /context and /event show
// it to user.
func (e *env) readPaths(user id.UserID, room id.RoomID, eventID id.EventID) map[string]gjson.Result {
	e.T.Helper()
	out := map[string]gjson.Result{}
	res := e.sync(user, syncOpts{filter: `{"room":{"timeline":{"limit":100}}}`})
	out["sync"] = findEvent(e.T, joined(res, room).Get("timeline.events"), eventID)
	out["messages"] = findEvent(e.T, e.messages(messagesBack(user, room)).Get("chunk"), eventID)
	body, err := e.Sync.Context(e.Ctx, &gsync.ContextRequest{UserID: user, RoomID: room, EventID: eventID, Limit: 2})
	if err != nil {
		e.T.Fatalf("context: %v", err)
	}
	out["context"] = gjson.GetBytes(body, "event")
	one, err := e.Sync.Event(e.Ctx, user, "", room, eventID)
	if err != nil {
		e.T.Fatalf("event: %v", err)
	}
	out["event"] = gjson.ParseBytes(one)
	return out
}

func TestBundledEdits(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		const base = int64(1_700_000_000_000)
		orig := e.sendAt(room, alice, "m.room.message", text("original"), base)
		e.sendAt(room, alice, "m.room.message", editOf(orig, "first edit"), base+10)
		latest := e.sendAt(room, alice, "m.room.message", editOf(orig, "second edit"), base+30)
		// Sent later but older by origin_server_ts: not the most recent.
		e.sendAt(room, alice, "m.room.message", editOf(orig, "late arrival"), base+20)
		// Another user cannot edit alice's message.
		e.sendAt(room, bob, "m.room.message", editOf(orig, "bob's edit"), base+40)
		// A redacted edit no longer counts.
		gone := e.sendAt(room, alice, "m.room.message", editOf(orig, "regretted edit"), base+50)
		e.redact(room, alice, gone)
		// Neither does an edit without m.new_content, or one changing the type.
		e.sendAt(room, alice, "m.room.message", map[string]any{"msgtype": "m.text", "body": "* no new content",
			"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": orig}}, base+60)
		e.sendAt(room, alice, "m.sticker", editOf(orig, "a sticker"), base+70)
		for i := 0; i < 12; i++ {
			e.Text(room, bob, fmt.Sprintf("chatter %d", i))
		}

		for _, viewer := range []id.UserID{alice, bob} {
			for path, ev := range e.readPaths(viewer, room, orig) {
				edit := relationsOf(ev, "m.replace")
				if edit.Get("event_id").Str != string(latest) || edit.Get(`content.m\.new_content.body`).Str != "second edit" ||
					edit.Get("sender").Str != alice.String() || !edit.Get("unsigned.age").Exists() {
					t.Errorf("%s as %s: m.replace = %s", path, viewer, ev.Get("unsigned").Raw)
				}
				// The server leaves the original content alone; clients apply the edit.
				if ev.Get("content.body").Str != "original" {
					t.Errorf("%s as %s: content replaced: %s", path, viewer, ev.Raw)
				}
			}
		}

		// An edit is not itself edited, and a redacted original keeps no edit.
		res := e.sync(bob, syncOpts{filter: `{"room":{"timeline":{"limit":100}}}`})
		if rel := findEvent(t, joined(res, room).Get("timeline.events"), latest).Get(`unsigned.m\.relations`); rel.Exists() {
			t.Errorf("edit carries relations: %s", rel.Raw)
		}
		e.redact(room, alice, orig)
		for path, ev := range e.readPaths(bob, room, orig) {
			if ev.Get(`unsigned.m\.relations`).Exists() || ev.Get("content.body").Exists() {
				t.Errorf("%s: redacted original = %s", path, ev.Raw)
			}
		}
	})
}

func TestBundledThreadSummary(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		room := e.Room(alice, rooms.CreateRequest{}, bob, carol)
		root := e.sendAt(room, alice, "m.room.message", text("root"), 0)
		plain := e.sendAt(room, alice, "m.room.message", text("no thread"), 0)
		e.sendAt(room, bob, "m.room.message", threadReply(root, "reply one"), 0)
		last := e.sendAt(room, bob, "m.room.message", threadReply(root, "reply two"), 0)
		lastEdit := e.sendAt(room, bob, "m.room.message", editOf(last, "reply two, edited"), 0)
		gone := e.sendAt(room, bob, "m.room.message", threadReply(root, "regretted reply"), 0)
		e.redact(room, bob, gone)
		for i := 0; i < 12; i++ {
			e.Text(room, carol, fmt.Sprintf("chatter %d", i))
		}

		for _, c := range []struct {
			viewer       id.UserID
			participated bool
		}{{alice, true}, {bob, true}, {carol, false}} {
			for path, ev := range e.readPaths(c.viewer, room, root) {
				th := relationsOf(ev, "m.thread")
				if th.Get("count").Int() != 2 || th.Get("latest_event.event_id").Str != string(last) ||
					th.Get("latest_event.content.body").Str != "reply two" ||
					th.Get("current_user_participated").Bool() != c.participated {
					t.Errorf("%s as %s: m.thread = %s", path, c.viewer, th.Raw)
				}
				if got := relationsOf(th.Get("latest_event"), "m.replace").Get("event_id").Str; got != string(lastEdit) {
					t.Errorf("%s as %s: latest_event's edit = %q, want %s", path, c.viewer, got, lastEdit)
				}
			}
		}
		for path, ev := range e.readPaths(carol, room, plain) {
			if ev.Get(`unsigned.m\.relations`).Exists() {
				t.Errorf("%s: unrelated event has relations: %s", path, ev.Raw)
			}
		}
	})
}

func TestBundledReferences(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		start := e.sendAt(room, alice, "m.key.verification.request", map[string]any{"msgtype": "m.key.verification.request"}, 0)
		ref := func(evType string) id.EventID {
			return e.sendAt(room, bob, evType, map[string]any{
				"m.relates_to": map[string]any{"rel_type": "m.reference", "event_id": start}}, 0)
		}
		ready := ref("m.key.verification.ready")
		gone := ref("m.key.verification.cancel")
		e.redact(room, bob, gone)
		done := ref("m.key.verification.done")
		for path, ev := range e.readPaths(alice, room, start) {
			var got []string
			for _, c := range relationsOf(ev, "m.reference").Get("chunk").Array() {
				got = append(got, c.Get("event_id").Str)
			}
			eq(t, path+" references", got, []string{string(ready), string(done)})
		}
	})
}

// TestBundlesRespectHistoryVisibility: a user who was away while an edit
// was sent, in a room whose history is visible to joined members only,
// sees the edit from after their return, and one who left sees none made
// after leaving.
func TestBundlesRespectHistoryVisibility(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob, dave := e.User("alice"), e.User("bob"), e.User("dave")
		room := e.Room(alice, rooms.CreateRequest{}, bob, dave)
		e.State(room, alice, "m.room.history_visibility", "", map[string]string{"history_visibility": "joined"})
		const base = int64(1_700_000_000_000)
		orig := e.sendAt(room, alice, "m.room.message", text("original"), base)
		e.Leave(room, dave, dave)
		hidden := e.sendAt(room, alice, "m.room.message", editOf(orig, "while dave was away"), base+20)
		e.Invite(room, alice, dave)
		e.Join(room, dave)
		seen := e.sendAt(room, alice, "m.room.message", editOf(orig, "after dave came back"), base+10)
		for path, ev := range e.readPaths(dave, room, orig) {
			if got := relationsOf(ev, "m.replace").Get("event_id").Str; got != string(seen) {
				t.Errorf("%s as dave: m.replace = %q, want %s (not %s)", path, got, seen, hidden)
			}
		}

		// bob left: /messages ends at his leave.
		e.Leave(room, bob, bob)
		e.sendAt(room, alice, "m.room.message", editOf(orig, "after bob left"), base+30)
		ev := findEvent(t, e.messages(messagesBack(bob, room)).Get("chunk"), orig)
		if got := relationsOf(ev, "m.replace").Get("event_id").Str; got != string(hidden) {
			t.Errorf("bob after leaving: m.replace = %q, want %s", got, hidden)
		}
	})
}
