package client

import (
	"testing"

	"github.com/tidwall/gjson"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestRelationsThreads(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newExtrasEnv(t, db, false)
		alice, bob, carol, dave := e.user("alice", false), e.user("bob", false), e.user("carol", false), e.user("dave", false)
		roomID := e.room(alice, rooms.CreateRequest{Preset: "public_chat"}, bob, carol)
		text := func(body string) map[string]any { return map[string]any{"msgtype": "m.text", "body": body} }
		inThread := func(body string, root any) map[string]any {
			c := text(body)
			c["m.relates_to"] = map[string]any{"rel_type": "m.thread", "event_id": root, "is_falling_back": true,
				"m.in_reply_to": map[string]any{"event_id": root}}
			return c
		}

		r1 := e.send(roomID, alice, "m.room.message", text("root one"))
		r2 := e.send(roomID, bob, "m.room.message", text("root two"))
		e.send(roomID, bob, "m.room.message", text("no thread here"))
		e.send(roomID, bob, "m.room.message", inThread("first reply", r1))
		// An encrypted reply: the relation sits in cleartext next to the ciphertext.
		enc := e.send(roomID, alice, "m.room.encrypted", map[string]any{"algorithm": "m.megolm.v1.aes-sha2",
			"ciphertext": "AwgAEn...", "session_id": "s", "device_id": "DEV", "sender_key": "k",
			"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": r2}})
		last1 := e.send(roomID, bob, "m.room.message", inThread("second reply", r1))

		const path = "/_matrix/client/v1/rooms/"
		threads := e.do("GET", path+string(roomID)+"/threads", alice, nil).ok(t)
		extrasWantEvents(t, "threads", threads.Get("chunk"), r1, r2)
		summary := func(root gjson.Result) gjson.Result { return root.Get(`unsigned.m\.relations.m\.thread`) }
		s1, s2 := summary(threads.Get("chunk.0")), summary(threads.Get("chunk.1"))
		if s1.Get("count").Int() != 2 || s1.Get("latest_event.event_id").Str != string(last1) ||
			s1.Get("latest_event.content.body").Str != "second reply" || !s1.Get("latest_event.unsigned.age").Exists() ||
			!s1.Get("current_user_participated").Bool() {
			t.Fatalf("thread one summary = %s", s1.Raw)
		}
		if s2.Get("count").Int() != 1 || s2.Get("latest_event.event_id").Str != string(enc) ||
			s2.Get("latest_event.type").Str != "m.room.encrypted" || !s2.Get("current_user_participated").Bool() {
			t.Fatalf("thread two summary = %s", s2.Raw)
		}
		if threads.Get("chunk.0.content.body").Str != "root one" || !threads.Get("chunk.0.unsigned.age").Exists() {
			t.Fatalf("root = %s", threads.Get("chunk.0").Raw)
		}
		// Relations of a root list its thread replies, encrypted ones included.
		extrasWantEvents(t, "thread relations", e.do("GET", path+string(roomID)+"/relations/"+string(r2)+"/m.thread", bob, nil).ok(t).Get("chunk"), enc)

		// carol took part in nothing.
		asCarol := e.do("GET", path+string(roomID)+"/threads", carol, nil).ok(t)
		extrasWantEvents(t, "carol, all", asCarol.Get("chunk"), r1, r2)
		if summary(asCarol.Get("chunk.0")).Get("current_user_participated").Bool() {
			t.Fatalf("carol marked as participating: %s", asCarol.Get("chunk.0").Raw)
		}
		extrasWantEvents(t, "carol, participated", e.do("GET", path+string(roomID)+"/threads?include=participated", carol, nil).ok(t).Get("chunk"))
		// bob replied in one and started the other.
		extrasWantEvents(t, "bob, participated", e.do("GET", path+string(roomID)+"/threads?include=participated", bob, nil).ok(t).Get("chunk"), r1, r2)

		// Paging.
		p1 := e.do("GET", path+string(roomID)+"/threads?limit=1", alice, nil).ok(t)
		extrasWantEvents(t, "page 1", p1.Get("chunk"), r1)
		p2 := e.do("GET", path+string(roomID)+"/threads?limit=1&from="+p1.Get("next_batch").Str, alice, nil).ok(t)
		extrasWantEvents(t, "page 2", p2.Get("chunk"), r2)
		if p2.Get("next_batch").Exists() {
			t.Fatalf("last page has next_batch: %s", p2.Raw)
		}
		// New activity in thread two moves it to the top.
		e.send(roomID, carol, "m.room.message", inThread("bump", r2))
		extrasWantEvents(t, "after bump", e.do("GET", path+string(roomID)+"/threads", carol, nil).ok(t).Get("chunk"), r2, r1)
		extrasWantEvents(t, "carol participates now", e.do("GET", path+string(roomID)+"/threads?include=participated", carol, nil).ok(t).Get("chunk"), r2)

		e.do("GET", path+string(roomID)+"/threads", dave, nil).fails(t, 403, "M_FORBIDDEN")
		// World-readable rooms are open to non-members.
		e.setState(roomID, alice, "m.room.history_visibility", map[string]any{"history_visibility": "world_readable"})
		extrasWantEvents(t, "world-readable", e.do("GET", path+string(roomID)+"/threads", dave, nil).ok(t).Get("chunk"), r2, r1)
		e.do("GET", path+string(roomID)+"/threads?include=mine", alice, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", path+string(roomID)+"/threads?from=abc", alice, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", path+"bad/threads", alice, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", path+"!unknown:test.local/threads", alice, nil).fails(t, 404, "M_NOT_FOUND")
	})
}
