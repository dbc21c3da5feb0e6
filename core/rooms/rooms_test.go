package rooms_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

type users map[id.UserID]string

func (u users) UserExists(_ context.Context, user id.UserID) (bool, error) {
	_, ok := u[user]
	return ok, nil
}
func (u users) Profile(_ context.Context, user id.UserID) (string, string, error) {
	return u[user], "", nil
}

const alice, bob, carol = id.UserID("@alice:test.local"), id.UserID("@bob:test.local"), id.UserID("@carol:test.local")

var testKey = func() *events.SigningKey {
	k, err := events.ParseSigningKey("ed25519 a_test " + "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE")
	if err != nil {
		panic(err)
	}
	return k
}()

func newService(t *testing.T, db *storage.DB) (*rooms.Service, *stream.Writer) {
	t.Helper()
	key := testKey
	w, err := stream.NewWriter(context.Background(), db, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	profiles := users{alice: "Alice", bob: "Bob", carol: ""}
	return rooms.New(db, w, profiles, rooms.Options{ServerName: "test.local", Key: key, EncryptByDefault: "invite"}, zerolog.Nop()), w
}

func errcode(err error) string {
	if e, ok := err.(*httpx.Error); ok {
		return e.ErrCode
	}
	return ""
}

func TestCreateJoinSendRedact(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		rs, _ := newService(t, db)
		name := "Team"
		roomID, _, err := rs.CreateRoom(ctx, alice, &rooms.CreateRequest{Name: &name, Invite: []id.UserID{bob}, RoomAliasName: "team"})
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := rs.MembershipOf(ctx, roomID, bob); m != event.MembershipInvite {
			t.Fatalf("bob membership = %q, want invite", m)
		}
		enc, _ := rs.StateEvent(ctx, roomID, event.StateEncryption.Type, "")
		if enc == nil {
			t.Fatal("private room is not encrypted by default")
		}
		// carol is not invited: the invite-only join rule refuses her.
		if _, err := rs.Join(ctx, carol, "#team:test.local", "", nil); errcode(err) != "M_FORBIDDEN" {
			t.Fatalf("carol join: %v, want M_FORBIDDEN", err)
		}
		if got, err := rs.Join(ctx, bob, "#team:test.local", "", nil); err != nil || got != roomID {
			t.Fatalf("bob join via alias: %v %v", got, err)
		}
		member, _ := rs.StateEvent(ctx, roomID, event.StateMember.Type, bob.String())
		if gjson.GetBytes(member.PDU.Content, "displayname").Str != "Bob" {
			t.Fatalf("member event lacks profile: %s", member.PDU.Content)
		}
		msg, err := rs.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: bob, Type: "m.room.message",
			Content: json.RawMessage(`{"msgtype":"m.text","body":"hello"}`), DeviceID: "DEV", TxnID: "t1"})
		if err != nil {
			t.Fatal(err)
		}
		again, err := rs.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: bob, Type: "m.room.message",
			Content: json.RawMessage(`{"msgtype":"m.text","body":"hello"}`), DeviceID: "DEV", TxnID: "t1"})
		if err != nil || again.ID != msg.ID {
			t.Fatalf("txn retry gave %v %v, want %s", again, err, msg.ID)
		}
		var n int
		_ = db.QueryRow(ctx, `SELECT COUNT(*) FROM events WHERE room_id = $1 AND type = 'm.room.message'`, roomID).Scan(&n)
		if n != 1 {
			t.Fatalf("%d messages stored, want 1", n)
		}
		stored, err := rs.GetEvent(ctx, msg.ID)
		if err != nil || gjson.GetBytes(stored.Client, "content.body").Str != "hello" {
			t.Fatalf("stored event: %v %s", err, stored.Client)
		}
		getKey := func(server string, keyID id.KeyID, _ time.Time) (id.SigningKey, time.Time, error) {
			return id.SigningKey(testKey.Public()), time.Now().Add(time.Hour), nil
		}
		if err := stored.PDU.VerifySignature(stored.Version, "test.local", getKey); err != nil {
			t.Fatalf("stored event signature: %v", err)
		}
		if !stored.PDU.VerifyContentHash() {
			t.Fatal("stored event content hash does not verify")
		}
		// A non-member cannot send.
		if _, err := rs.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: carol, Type: "m.room.message", Content: json.RawMessage(`{}`)}); errcode(err) != "M_FORBIDDEN" {
			t.Fatalf("carol send: %v", err)
		}
		// bob may not redact alice's events (redact level 50) but may redact his own.
		first, _ := rs.StateEvent(ctx, roomID, event.StateRoomName.Type, "")
		if _, err := rs.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: bob, Type: "m.room.redaction", Redacts: first.ID, Content: json.RawMessage(`{}`)}); errcode(err) != "M_FORBIDDEN" {
			t.Fatalf("bob redacting alice: %v", err)
		}
		if _, err := rs.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: bob, Type: "m.room.redaction", Redacts: msg.ID,
			Content: json.RawMessage(`{"redacts":"` + string(msg.ID) + `"}`)}); err != nil {
			t.Fatal(err)
		}
		stored, _ = rs.GetEvent(ctx, msg.ID)
		if gjson.GetBytes(stored.Client, "content.body").Exists() {
			t.Fatalf("redacted event still has body: %s", stored.Client)
		}
		// State survives a reload from the database (a fresh service).
		rs2, _ := newService(t, db)
		if m, _ := rs2.MembershipOf(ctx, roomID, bob); m != event.MembershipJoin {
			t.Fatalf("after reload bob = %q", m)
		}
		if _, err := rs2.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{"body":"x"}`)}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConcurrentSendsShareCommits(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		rs, _ := newService(t, db)
		roomID, _, err := rs.CreateRoom(ctx, alice, &rooms.CreateRequest{Preset: "public_chat"})
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 64)
		for i := 0; i < 64; i++ {
			go func() {
				_, err := rs.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{"body":"x"}`)})
				errs <- err
			}()
		}
		for i := 0; i < 64; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		// Every event's prev_event is the one stored just before it: a chain.
		rows, err := db.Query(ctx, `SELECT event_id, pdu FROM events WHERE room_id = $1 ORDER BY stream_pos`, roomID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var prev string
		count := 0
		for rows.Next() {
			var eid, p string
			_ = rows.Scan(&eid, &p)
			if prev != "" && gjson.Get(p, "prev_events.0").Str != prev {
				t.Fatalf("event %s has prev %s, want %s", eid, gjson.Get(p, "prev_events").Raw, prev)
			}
			prev = eid
			count++
		}
		if count < 64+6 {
			t.Fatalf("only %d events", count)
		}
	})
}

func TestBadCreateRequests(t *testing.T) {
	db := storagetest.NewSQLite(t)
	rs, _ := newService(t, db)
	ctx := context.Background()
	cases := map[string]*rooms.CreateRequest{
		"M_UNSUPPORTED_ROOM_VERSION": {RoomVersion: "99"},
		"M_BAD_JSON":                 {Preset: "nonsense"},
		"M_INVALID_PARAM":            {Invite: []id.UserID{"not a user"}},
	}
	for want, req := range cases {
		if _, _, err := rs.CreateRoom(ctx, alice, req); errcode(err) != want {
			t.Errorf("%+v: got %v, want %s", req, err, want)
		}
	}
	if _, _, err := rs.CreateRoom(ctx, alice, &rooms.CreateRequest{RoomAliasName: "dup"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs.CreateRoom(ctx, alice, &rooms.CreateRequest{RoomAliasName: "dup"}); errcode(err) != "M_ROOM_IN_USE" {
		t.Fatalf("duplicate alias: %v", err)
	}
}
