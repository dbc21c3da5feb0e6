package client

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func extrasRel(relType string, target id.EventID) map[string]any {
	return map[string]any{"rel_type": relType, "event_id": target}
}

func extrasWantEvents(t *testing.T, what string, chunk gjson.Result, want ...id.EventID) {
	t.Helper()
	w := []string{}
	for _, e := range want {
		w = append(w, string(e))
	}
	got, _ := json.Marshal(extrasEventIDs(chunk))
	wj, _ := json.Marshal(w)
	if string(got) != string(wj) {
		t.Fatalf("%s: events %s, want %s", what, got, wj)
	}
}

func TestRelations(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newExtrasEnv(t, db, false)
		alice, bob, carol, dave := e.user("alice", false), e.user("bob", false), e.user("carol", false), e.user("dave", false)
		roomID := e.room(alice, rooms.CreateRequest{Preset: "public_chat"}, bob, carol)
		otherRoom := e.room(alice, rooms.CreateRequest{Preset: "public_chat"})

		msg := e.send(roomID, alice, "m.room.message", map[string]any{"msgtype": "m.text", "body": "hello"})
		reaction := e.send(roomID, bob, "m.reaction", map[string]any{"m.relates_to": map[string]any{
			"rel_type": "m.annotation", "event_id": msg, "key": "👍"}})
		edit := e.send(roomID, alice, "m.room.message", map[string]any{"msgtype": "m.text", "body": "* hi",
			"m.new_content": map[string]any{"msgtype": "m.text", "body": "hi"}, "m.relates_to": extrasRel("m.replace", msg)})
		// A reply is not a relation.
		e.send(roomID, bob, "m.room.message", map[string]any{"msgtype": "m.text", "body": "reply",
			"m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": msg}}})
		e.send(roomID, alice, "m.room.message", map[string]any{"msgtype": "m.text", "body": "unrelated"})
		ref := e.send(roomID, bob, "m.room.message", map[string]any{"msgtype": "m.text", "body": "see above",
			"m.relates_to": extrasRel("m.reference", msg)})
		// A relation to the edit: only found when recursing.
		nested := e.send(roomID, carol, "m.reaction", map[string]any{"m.relates_to": map[string]any{
			"rel_type": "m.annotation", "event_id": edit, "key": "🎉"}})
		// A redacted reaction no longer counts.
		gone := e.send(roomID, carol, "m.reaction", map[string]any{"m.relates_to": map[string]any{
			"rel_type": "m.annotation", "event_id": msg, "key": "👎"}})
		if _, err := e.rs.Send(e.ctx, rooms.SendRequest{RoomID: roomID, Sender: carol, Type: "m.room.redaction", Redacts: gone,
			Content: json.RawMessage(`{"redacts":"` + string(gone) + `"}`)}); err != nil {
			t.Fatal(err)
		}
		otherMsg := e.send(otherRoom, alice, "m.room.message", map[string]any{"msgtype": "m.text", "body": "elsewhere"})

		base := "/_matrix/client/v1/rooms/" + string(roomID) + "/relations/" + string(msg)
		all := e.do("GET", base, bob, nil).ok(t)
		extrasWantEvents(t, "all relations", all.Get("chunk"), ref, edit, reaction)
		if all.Get("next_batch").Exists() || all.Get("prev_batch").Exists() || all.Get("recursion_depth").Exists() {
			t.Fatalf("relations page = %s", all.Raw)
		}
		for _, ev := range all.Get("chunk").Array() {
			if ev.Get("room_id").Str != string(roomID) || !ev.Get("unsigned.age").Exists() || ev.Get("unsigned.age").Int() < 0 ||
				ev.Get("content.m\\.relates_to.event_id").Str != string(msg) {
				t.Fatalf("relation event = %s", ev.Raw)
			}
		}
		if body := all.Get("chunk.1.content.m\\.new_content.body").Str; body != "hi" {
			t.Fatalf("edit content not served: %s", all.Get("chunk.1").Raw)
		}
		extrasWantEvents(t, "annotations", e.do("GET", base+"/m.annotation", bob, nil).ok(t).Get("chunk"), reaction)
		extrasWantEvents(t, "reactions", e.do("GET", base+"/m.annotation/m.reaction", bob, nil).ok(t).Get("chunk"), reaction)
		extrasWantEvents(t, "annotation messages", e.do("GET", base+"/m.annotation/m.room.message", bob, nil).ok(t).Get("chunk"))
		extrasWantEvents(t, "edits", e.do("GET", base+"/m.replace", bob, nil).ok(t).Get("chunk"), edit)
		extrasWantEvents(t, "forwards", e.do("GET", base+"?dir=f", bob, nil).ok(t).Get("chunk"), reaction, edit, ref)
		rec := e.do("GET", base+"?recurse=true", bob, nil).ok(t)
		extrasWantEvents(t, "recursive", rec.Get("chunk"), nested, ref, edit, reaction)
		if rec.Get("recursion_depth").Int() != 3 {
			t.Fatalf("recursion_depth = %s", rec.Get("recursion_depth").Raw)
		}
		extrasWantEvents(t, "recursive annotations", e.do("GET", base+"/m.annotation?recurse=true", bob, nil).ok(t).Get("chunk"), nested, reaction)

		// Paging backwards one at a time, then forwards.
		var seen []id.EventID
		from := ""
		for i := 0; i < 5; i++ {
			page := e.do("GET", base+"?limit=1&from="+url.QueryEscape(from), bob, nil).ok(t)
			if from != "" && page.Get("prev_batch").Str != from {
				t.Fatalf("prev_batch = %q, want the from token %q", page.Get("prev_batch").Str, from)
			}
			for _, id_ := range extrasEventIDs(page.Get("chunk")) {
				seen = append(seen, id.EventID(id_))
			}
			if from = page.Get("next_batch").Str; from == "" {
				break
			}
		}
		if got, _ := json.Marshal(seen); string(got) != extrasJSONIDs(ref, edit, reaction) {
			t.Fatalf("paged backwards: %s", got)
		}
		fwd := e.do("GET", base+"?dir=f&limit=2", bob, nil).ok(t)
		extrasWantEvents(t, "forward page 1", fwd.Get("chunk"), reaction, edit)
		fwd2 := e.do("GET", base+"?dir=f&limit=2&from="+fwd.Get("next_batch").Str, bob, nil).ok(t)
		extrasWantEvents(t, "forward page 2", fwd2.Get("chunk"), ref)
		// "to" stops the walk: backwards from the newest down to (excluding) the forward token.
		extrasWantEvents(t, "bounded", e.do("GET", base+"?to="+fwd.Get("next_batch").Str, bob, nil).ok(t).Get("chunk"), ref)

		// Access and bad input.
		e.do("GET", base, dave, nil).fails(t, 403, "M_FORBIDDEN")
		e.do("GET", base, "", nil).fails(t, 401, "M_MISSING_TOKEN")
		e.do("GET", "/_matrix/client/v1/rooms/"+string(roomID)+"/relations/$unknown", bob, nil).fails(t, 404, "M_NOT_FOUND")
		e.do("GET", "/_matrix/client/v1/rooms/"+string(roomID)+"/relations/"+string(otherMsg), bob, nil).fails(t, 404, "M_NOT_FOUND")
		e.do("GET", "/_matrix/client/v1/rooms/"+string(roomID)+"/relations/notanevent", bob, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", "/_matrix/client/v1/rooms/notaroom/relations/"+string(msg), bob, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", "/_matrix/client/v1/rooms/!unknown:test.local/relations/"+string(msg), bob, nil).fails(t, 404, "M_NOT_FOUND")
		e.do("GET", base+"?dir=up", bob, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", base+"?from=s12_3", bob, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", base+"?limit=-5", bob, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", base+"?recurse=yes", bob, nil).fails(t, 400, "M_INVALID_PARAM")

		// A member who left sees the relations sent before they left, not after.
		if _, err := e.rs.SetMembership(e.ctx, rooms.MembershipRequest{RoomID: roomID, Sender: bob, Target: bob, Membership: "leave"}); err != nil {
			t.Fatal(err)
		}
		late := e.send(roomID, alice, "m.reaction", map[string]any{"m.relates_to": map[string]any{
			"rel_type": "m.annotation", "event_id": msg, "key": "late"}})
		extrasWantEvents(t, "departed member", e.do("GET", base, bob, nil).ok(t).Get("chunk"), ref, edit, reaction)
		extrasWantEvents(t, "current member", e.do("GET", base, alice, nil).ok(t).Get("chunk"), late, ref, edit, reaction)
	})
}

func extrasJSONIDs(ids ...id.EventID) string {
	b, _ := json.Marshal(ids)
	return string(b)
}
