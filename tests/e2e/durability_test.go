package e2e

import (
	"fmt"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestDurabilityKill9 checks that a 200 answer to PUT /send means the event
// is on disk: 200 messages, kill -9 straight after the last answer, restart
// on the same data, and every message is there in order. It also checks
// transaction IDs survive the crash: resending a txnId sent before it
// returns the original event_id and stores nothing new. Last, a graceful
// restart must exit 0 and keep everything as well.
func TestDurabilityKill9(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		alice := s.register(t, "alice")
		created, err := alice.CreateRoom(t.Context(), &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Durable"})
		if err != nil {
			t.Fatalf("createRoom: %v", err)
		}
		room := created.RoomID
		dup := map[string]any{"msgtype": "m.text", "body": "sent twice"}
		first, err := alice.SendMessageEvent(t.Context(), room, event.EventMessage, dup, mautrix.ReqSendEvent{TransactionID: "dup-txn"})
		if err != nil {
			t.Fatalf("send dup: %v", err)
		}

		const n = 200
		sent := make([]id.EventID, n)
		for i := range n {
			r, err := alice.SendMessageEvent(t.Context(), room, event.EventMessage,
				map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("durable %03d", i)},
				mautrix.ReqSendEvent{TransactionID: fmt.Sprintf("durable-%d", i)})
			if err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			sent[i] = r.EventID
		}
		s.kill9(t)
		s.relaunch(t)

		again, err := alice.SendMessageEvent(t.Context(), room, event.EventMessage, dup, mautrix.ReqSendEvent{TransactionID: "dup-txn"})
		if err != nil {
			t.Fatalf("resend dup after restart: %v", err)
		}
		if again.EventID != first.EventID {
			t.Errorf("resent txnId gave %s after the restart, want the original %s", again.EventID, first.EventID)
		}

		msgs := allMessages(t, alice, room)
		dups := 0
		var durable []*event.Event
		for _, ev := range msgs {
			switch body := str(ev, "body"); {
			case body == "sent twice":
				dups++
			case len(body) > 8 && body[:8] == "durable ":
				durable = append(durable, ev)
			}
		}
		if dups != 1 {
			t.Errorf("%d events for the twice-sent txnId, want 1", dups)
		}
		if len(durable) != n {
			t.Fatalf("%d of %d acknowledged messages survived kill -9", len(durable), n)
		}
		for i, ev := range durable {
			if want := fmt.Sprintf("durable %03d", i); ev.ID != sent[i] || str(ev, "body") != want {
				t.Errorf("message %d after restart is %s %q, want %s %q", i, ev.ID, str(ev, "body"), sent[i], want)
			}
		}

		// A graceful restart (SIGTERM, exit 0) keeps everything too.
		s.restart(t)
		if got := len(allMessages(t, alice, room)); got != n+1 {
			t.Errorf("%d messages after a graceful restart, want %d", got, n+1)
		}
	})
}

// allMessages returns every m.room.message in room, oldest first, by
// paginating /messages backwards from the live end.
func allMessages(t *testing.T, u *user, room id.RoomID) []*event.Event {
	t.Helper()
	var rev []*event.Event
	from := ""
	for page := 0; ; page++ {
		if page == 100 {
			t.Fatalf("/messages still has an end token after 100 pages")
		}
		resp, err := u.Messages(t.Context(), room, from, "", mautrix.DirectionBackward, nil, 100)
		if err != nil {
			t.Fatalf("/messages: %v", err)
		}
		rev = append(rev, ofType(resp.Chunk, "m.room.message")...)
		if resp.End == "" || len(resp.Chunk) == 0 {
			break
		}
		from = resp.End
	}
	out := make([]*event.Event, len(rev))
	for i, ev := range rev {
		out[len(rev)-1-i] = ev
	}
	return out
}
