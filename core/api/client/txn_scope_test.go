package client

import (
	"testing"
)

// TestTxnIDScope checks the spec's scope of transaction IDs: one device and
// one endpoint. A retry returns the first event; the same txnId sent to
// another room, or to /redact, is a new request that does what it says.
func TestTxnIDScope(t *testing.T) {
	forEachSyncDB(t, func(t *testing.T, e *syncEnv) {
		RegisterRooms(e.rt, e.Rooms)
		alice := e.User("alice")
		roomA := e.do("POST", "/_matrix/client/v3/createRoom", alice, map[string]any{"name": "A"}).ok(t).Get("room_id").Str
		roomB := e.do("POST", "/_matrix/client/v3/createRoom", alice, map[string]any{"name": "B"}).ok(t).Get("room_id").Str

		send := func(room, body string) string {
			return e.do("PUT", syncPath("/rooms/%s/send/m.room.message/t1", room), alice,
				map[string]any{"msgtype": "m.text", "body": body}).ok(t).Get("event_id").Str
		}
		inA := send(roomA, "in A")
		if again := send(roomA, "in A"); again != inA {
			t.Fatalf("retried send returned %s, first was %s", again, inA)
		}
		inB := send(roomB, "in B")
		if inB == inA {
			t.Fatal("the same txnId in another room returned the first room's event")
		}
		if got := e.do("GET", syncPath("/rooms/%s/event/%s", roomB, inB), alice, nil).ok(t).Get("content.body").Str; got != "in B" {
			t.Fatalf("room B's event body %q", got)
		}

		redact := func() string {
			return e.do("PUT", syncPath("/rooms/%s/redact/%s/t1", roomA, inA), alice, map[string]any{"reason": "typo"}).
				ok(t).Get("event_id").Str
		}
		red := redact()
		if red == inA || red == inB {
			t.Fatalf("/redact with a txnId used by /send returned the sent event %s", red)
		}
		if again := redact(); again != red {
			t.Fatalf("retried redaction returned %s, first was %s", again, red)
		}
		got := e.do("GET", syncPath("/rooms/%s/event/%s", roomA, inA), alice, nil).ok(t)
		if got.Get("content.body").Exists() || got.Get("unsigned.redacted_because.event_id").Str != red {
			t.Fatalf("the message was not redacted by %s: %s", red, got.Raw)
		}

		// The sender's /sync echoes each event's own transaction ID.
		sync := e.do("GET", "/_matrix/client/v3/sync", alice, nil).ok(t)
		for room, eid := range map[string]string{roomA: red, roomB: inB} {
			found := false
			for _, ev := range sync.Get("rooms.join." + syncKey(room) + ".timeline.events").Array() {
				if ev.Get("event_id").Str == eid {
					found = true
					if tx := ev.Get("unsigned.transaction_id").Str; tx != "t1" {
						t.Errorf("%s in /sync has transaction_id %q", eid, tx)
					}
				}
			}
			if !found {
				t.Errorf("%s missing from /sync", eid)
			}
		}
	})
}
