package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

func timestampPath(room id.RoomID, query string) string {
	return "/_matrix/client/v1/rooms/" + url.PathEscape(room.String()) + "/timestamp_to_event?" + query
}

// sendAt sends a message with a given origin_server_ts, as an appservice
// importing history does.
func sendAt(e *syncEnv, room id.RoomID, sender id.UserID, ts int64, body string) *rooms.Event {
	e.T.Helper()
	ev, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: sender, Type: "m.room.message", TS: ts,
		Content: json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body))})
	if err != nil {
		e.T.Fatalf("send at %d: %v", ts, err)
	}
	return ev
}

func TestTimestampToEvent(t *testing.T) {
	forEachNavigationDB(t, func(t *testing.T, e *syncEnv) {
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		room := e.Room(alice, rooms.CreateRequest{})
		// History from well before the room's creation events (imported),
		// so that time order and stream order differ.
		base := time.Now().UnixMilli() - 10_000_000
		m1 := sendAt(e, room, alice, base+1000, "one")
		m2 := sendAt(e, room, alice, base+2000, "two")
		m3 := sendAt(e, room, alice, base+3000, "three")
		e.Invite(room, alice, bob)
		e.Join(room, bob)

		find := func(as id.UserID, ts int64, dir string) (id.EventID, int64, int) {
			t.Helper()
			res := e.do("GET", timestampPath(room, fmt.Sprintf("ts=%d&dir=%s", ts, dir)), as, nil)
			if res.status != http.StatusOK {
				if res.body.Get("errcode").Str != "M_NOT_FOUND" || res.status != http.StatusNotFound {
					t.Fatalf("ts=%d dir=%s: %d %s", ts, dir, res.status, res.body.Raw)
				}
				return "", 0, res.status
			}
			return id.EventID(res.body.Get("event_id").Str), res.body.Get("origin_server_ts").Int(), res.status
		}
		for _, c := range []struct {
			ts   int64
			dir  string
			want *rooms.Event
		}{
			{base + 1500, "f", m2}, {base + 1500, "b", m1},
			{base + 2000, "f", m2}, {base + 2000, "b", m2},
			{base, "f", m1}, {base + 3000, "b", m3},
			{base + 2999, "f", m3},
			{0, "b", nil},
		} {
			got, ts, status := find(bob, c.ts, c.dir)
			if c.want == nil {
				if status != http.StatusNotFound {
					t.Errorf("ts=%d dir=%s: got %s, want M_NOT_FOUND", c.ts, c.dir, got)
				}
				continue
			}
			if got != c.want.ID || ts != c.want.PDU.OriginServerTS {
				t.Errorf("ts=%d dir=%s: got %s at %d, want %s at %d", c.ts, c.dir, got, ts, c.want.ID, c.want.PDU.OriginServerTS)
			}
		}
		// Forward from after the imported messages finds the newest events.
		after := time.Now().UnixMilli() + 60_000
		if _, _, status := find(bob, after, "f"); status != http.StatusNotFound {
			t.Errorf("nothing lies after now, got %d", status)
		}
		if got, _, _ := find(bob, after, "b"); got == "" {
			t.Errorf("backwards from the future finds the newest event")
		}
		// Outsiders get 403 whether or not an event would match.
		e.do("GET", timestampPath(room, fmt.Sprintf("ts=%d&dir=f", base)), carol, nil).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		e.do("GET", timestampPath(room, "ts=0&dir=b"), carol, nil).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		e.do("GET", timestampPath("!unknown:test.local", "ts=0&dir=b"), carol, nil).fails(t, http.StatusForbidden, "M_FORBIDDEN")
	})
}

// TestTimestampToEventVisibility checks that jump to date skips what
// /messages would hide: with "joined" history, a late joiner sees nothing
// from before their join.
func TestTimestampToEventVisibility(t *testing.T) {
	forEachNavigationDB(t, func(t *testing.T, e *syncEnv) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{})
		e.State(room, alice, "m.room.history_visibility", "", map[string]any{"history_visibility": "joined"})
		base := time.Now().UnixMilli() - 10_000_000
		// More hidden messages than one candidate query fetches.
		m1 := sendAt(e, room, alice, base+1000, "before bob")
		var m2 *rooms.Event
		for i := range 25 {
			m2 = sendAt(e, room, alice, base+2000+int64(i), "also before bob")
		}
		e.Invite(room, alice, bob)
		join, err := e.Rooms.Join(e.Ctx, bob, room.String(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		bobJoin, err := e.Rooms.StateEvent(e.Ctx, join, "m.room.member", bob.String())
		if err != nil || bobJoin == nil {
			t.Fatalf("bob's join: %v", err)
		}
		m4 := sendAt(e, room, alice, base+4000, "after bob")

		get := func(as id.UserID, query string) syncResp {
			return e.do("GET", timestampPath(room, query), as, nil)
		}
		// Alice sees the old message; Bob only what came after his join, in
		// stream order, whatever its timestamp.
		if got := get(alice, fmt.Sprintf("ts=%d&dir=b", base+1500)).ok(t).Get("event_id").Str; got != m1.ID.String() {
			t.Errorf("alice backwards: %s", got)
		}
		get(bob, fmt.Sprintf("ts=%d&dir=b", base+1500)).fails(t, http.StatusNotFound, "M_NOT_FOUND")
		if got := get(bob, fmt.Sprintf("ts=%d&dir=f", base)).ok(t).Get("event_id").Str; got != m4.ID.String() {
			t.Errorf("bob forwards from before his join: got %s, want the first message he can see %s", got, m4.ID)
		}
		if got := get(bob, fmt.Sprintf("ts=%d&dir=b", time.Now().UnixMilli()+60_000)).ok(t).Get("event_id").Str; got != bobJoin.ID.String() {
			t.Errorf("bob backwards from now: got %s, want his join %s", got, bobJoin.ID)
		}
		// And /messages agrees: bob's timeline has m4 but neither message
		// from before his join.
		msgs := e.do("GET", syncPath("/rooms/%s/messages", room.String())+"?dir=b&limit=50", bob, nil).ok(t)
		ids := extrasEventIDs(msgs.Get("chunk"))
		if !slices.Contains(ids, m4.ID.String()) || slices.Contains(ids, m1.ID.String()) || slices.Contains(ids, m2.ID.String()) {
			t.Errorf("/messages for bob: %v", msgs.Get("chunk.#.content.body").Raw)
		}
	})
}

func TestTimestampToEventBadInput(t *testing.T) {
	forEachNavigationDB(t, func(t *testing.T, e *syncEnv) {
		alice := e.User("alice")
		room := e.Room(alice, rooms.CreateRequest{})
		for _, c := range []struct{ query, errcode string }{
			{"dir=f", "M_MISSING_PARAM"},
			{"ts=&dir=f", "M_MISSING_PARAM"},
			{"ts=1", "M_MISSING_PARAM"},
			{"ts=soon&dir=f", "M_INVALID_PARAM"},
			{"ts=-1&dir=b", "M_INVALID_PARAM"},
			{"ts=99999999999999999999&dir=b", "M_INVALID_PARAM"},
			{"ts=1&dir=sideways", "M_INVALID_PARAM"},
		} {
			e.do("GET", timestampPath(room, c.query), alice, nil).fails(t, 400, c.errcode)
		}
		e.do("GET", "/_matrix/client/v1/rooms/not-a-room/timestamp_to_event?ts=1&dir=f", alice, nil).fails(t, 400, "M_INVALID_PARAM")
		e.do("GET", timestampPath(room, "ts=1&dir=f"), "", nil).fails(t, http.StatusUnauthorized, "M_MISSING_TOKEN")
	})
}
