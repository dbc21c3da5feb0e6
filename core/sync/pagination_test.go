package sync_test

import (
	"fmt"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// messages calls the /messages service as user.
func (e *env) messages(req gsync.MessagesRequest) gjson.Result {
	e.T.Helper()
	body, err := e.Sync.Messages(e.Ctx, &req)
	if err != nil {
		e.T.Fatalf("messages: %v", err)
	}
	return gjson.ParseBytes(body)
}

func messagesBack(user id.UserID, room id.RoomID) gsync.MessagesRequest {
	return gsync.MessagesRequest{UserID: user, RoomID: room, Backwards: true, Limit: 100}
}

func chunkBodies(res gjson.Result) []string {
	var out []string
	for _, ev := range res.Get("chunk").Array() {
		if b := ev.Get("content.body"); b.Exists() {
			out = append(out, b.Str)
		}
	}
	return out
}

func TestLimitedTimelineAndBackPagination(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		next := e.sync(bob, syncOpts{}).Get("next_batch").Str
		for i := 0; i < 12; i++ {
			e.Text(room, alice, fmt.Sprintf("m%d", i))
		}
		name := e.State(room, alice, "m.room.name", "", map[string]string{"name": "Renamed in the gap"})
		for i := 12; i < 25; i++ {
			e.Text(room, alice, fmt.Sprintf("m%d", i))
		}
		res := e.sync(bob, syncOpts{since: next, filter: `{"room":{"timeline":{"limit":5}}}`})
		r := joined(res, room)
		eq(t, "limited timeline", bodies(r), []string{"m20", "m21", "m22", "m23", "m24"})
		if !r.Get("timeline.limited").Bool() {
			t.Fatal("timeline not limited")
		}
		// The state section carries what changed in the gap.
		if got := types(r.Get("state.events")); len(got) != 1 || got[0] != "m.room.name" ||
			r.Get("state.events.0.event_id").Str != name.ID.String() {
			t.Fatalf("gap state = %s", r.Get("state.events").Raw)
		}
		prev, err := gsync.ParseToken(r.Get("timeline.prev_batch").Str)
		if err != nil {
			t.Fatal(err)
		}
		sincePos, _ := gsync.ParseToken(next)
		// Back-paginate from prev_batch down to the old since token.
		var older []string
		from := &prev
		for {
			page := e.messages(gsync.MessagesRequest{UserID: bob, RoomID: room, From: from, To: &sincePos, Backwards: true, Limit: 7})
			older = append(older, chunkBodies(page)...)
			end := page.Get("end")
			if !end.Exists() {
				break
			}
			pos, err := gsync.ParseToken(end.Str)
			if err != nil {
				t.Fatal(err)
			}
			from = &pos
		}
		var want []string
		for i := 19; i >= 0; i-- {
			want = append(want, fmt.Sprintf("m%d", i))
		}
		eq(t, "back-paginated", older, want)

		// Forwards from the old since token gives the same events oldest first.
		fwd := e.messages(gsync.MessagesRequest{UserID: bob, RoomID: room, From: &sincePos, Limit: 3})
		eq(t, "forwards", chunkBodies(fwd), []string{"m0", "m1", "m2"})
		if fwd.Get("start").Str != next || !fwd.Get("end").Exists() {
			t.Errorf("forward tokens: %s", fwd.Raw)
		}
	})
}

func TestMessagesWithoutFromAndClamp(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		for i := 0; i < 3; i++ {
			e.Text(room, alice, fmt.Sprintf("m%d", i))
		}
		page := e.messages(gsync.MessagesRequest{UserID: bob, RoomID: room, Backwards: true, Limit: 2})
		eq(t, "latest two", chunkBodies(page), []string{"m2", "m1"})
		all := e.messages(gsync.MessagesRequest{UserID: bob, RoomID: room, Backwards: true, Limit: 5000})
		if n := len(all.Get("chunk").Array()); n < 10 {
			t.Errorf("chunk has %d events", n)
		}
		if all.Get("end").Exists() {
			t.Errorf("end present after the first event: %s", all.Get("end").Raw)
		}
		// Filtered: only messages, newest first.
		f, err := gsync.ParseRoomEventFilter([]byte(`{"types":["m.room.message"]}`))
		if err != nil {
			t.Fatal(err)
		}
		only := e.messages(gsync.MessagesRequest{UserID: bob, RoomID: room, Backwards: true, Limit: 100, Filter: f})
		eq(t, "messages only", types(only.Get("chunk")), []string{"m.room.message", "m.room.message", "m.room.message"})

		// Outsiders may not read a shared room.
		carol := e.User("carol")
		if _, err := e.Sync.Messages(e.Ctx, &gsync.MessagesRequest{UserID: carol, RoomID: room, Backwards: true, Limit: 5}); err == nil ||
			errCode(err) != "M_FORBIDDEN" {
			t.Errorf("outsider read messages: %v", err)
		}
	})
}
