package rooms_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	jsonv2 "encoding/json/v2"
	"regexp"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

var originChosenID = regexp.MustCompile(`^\$[A-Za-z0-9]{24}:test\.local$`)

// TestLegacyRoomVersions runs a room of version 1 and one of version 2
// through creation, membership, state, messages and redaction, then checks
// every stored PDU the way a federating server would: its own event_id,
// [id, {sha256}] references whose hashes are the cited events' reference
// hashes, a content hash and a signature that verify.
func TestLegacyRoomVersions(t *testing.T) {
	for _, version := range []id.RoomVersion{id.RoomV1, id.RoomV2} {
		t.Run("v"+string(version), func(t *testing.T) {
			storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
				testLegacyRoom(t, db, version)
			})
		})
	}
}

func testLegacyRoom(t *testing.T, db *storage.DB, version id.RoomVersion) {
	ctx := context.Background()
	rs, _ := newService(t, db)
	topic := "old times"
	roomID, _, err := rs.CreateRoom(ctx, alice, &rooms.CreateRequest{RoomVersion: version, Topic: &topic, Invite: []id.UserID{bob}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rs.Version(ctx, roomID); v != version {
		t.Fatalf("room version = %q, want %q", v, version)
	}
	create, _ := rs.StateEvent(ctx, roomID, event.StateCreate.Type, "")
	if !originChosenID.MatchString(string(create.ID)) {
		t.Fatalf("create event ID %q is not $<random>:test.local", create.ID)
	}
	if c := gjson.ParseBytes(create.PDU.Content); c.Get("creator").Str != alice.String() || c.Get("room_version").Str != string(version) {
		t.Fatalf("create content = %s", create.PDU.Content)
	}
	if gjson.GetBytes(create.Client, "event_id").Str != string(create.ID) {
		t.Fatalf("client form of create: %s", create.Client)
	}

	// Auth rules: carol is neither invited nor joined.
	send := func(sender id.UserID, body string) (*rooms.Event, error) {
		return rs.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: sender, Type: "m.room.message",
			Content: json.RawMessage(`{"msgtype":"m.text","body":"` + body + `"}`)})
	}
	if _, err := send(carol, "hi"); errcode(err) != "M_FORBIDDEN" {
		t.Fatalf("carol send: %v, want M_FORBIDDEN", err)
	}
	if _, err := rs.Join(ctx, carol, roomID.String(), "", nil); errcode(err) != "M_FORBIDDEN" {
		t.Fatalf("carol join: %v, want M_FORBIDDEN", err)
	}
	if _, err := rs.Join(ctx, bob, roomID.String(), "", nil); err != nil {
		t.Fatal(err)
	}
	msg, err := send(bob, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if !originChosenID.MatchString(string(msg.ID)) || gjson.GetBytes(msg.Client, "event_id").Str != string(msg.ID) {
		t.Fatalf("message ID %q, client %s", msg.ID, msg.Client)
	}
	// bob (power 0) may not set the name (50); alice may.
	name := func(sender id.UserID, n string) error {
		_, err := rs.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: sender, Type: event.StateRoomName.Type,
			StateKey: new(""), Content: json.RawMessage(`{"name":"` + n + `"}`)})
		return err
	}
	if err := name(bob, "Bob's"); errcode(err) != "M_FORBIDDEN" {
		t.Fatalf("bob setting the name: %v", err)
	}
	if err := name(alice, "Old"); err != nil {
		t.Fatal(err)
	}
	// Versions 1 and 2 authorise redactions across servers by power level
	// (auth rule 11): bob lacks the redact level for a foreign event ID,
	// alice passes the rule and finds no such event.
	foreign := id.EventID("$abc:elsewhere.example")
	redact := func(sender id.UserID, target id.EventID) error {
		_, err := rs.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: sender, Type: event.EventRedaction.Type, Redacts: target, Content: json.RawMessage(`{}`)})
		return err
	}
	if err := redact(bob, foreign); errcode(err) != "M_FORBIDDEN" {
		t.Fatalf("bob redacting a foreign event: %v, want M_FORBIDDEN", err)
	}
	if err := redact(alice, foreign); errcode(err) != "M_NOT_FOUND" {
		t.Fatalf("alice redacting an unknown foreign event: %v, want M_NOT_FOUND", err)
	}
	if err := redact(bob, msg.ID); err != nil {
		t.Fatal(err)
	}
	redacted, err := rs.GetEvent(ctx, msg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(redacted.Client, "content.body").Exists() || gjson.GetBytes(redacted.Client, "event_id").Str != string(msg.ID) {
		t.Fatalf("redacted message, client form: %s", redacted.Client)
	}

	// A fresh service loads the room (state and the head it cites) from
	// the database and carries on.
	rs2, _ := newService(t, db)
	if _, err := rs2.SetMembership(ctx, rooms.MembershipRequest{RoomID: roomID, Sender: alice, Target: bob, Membership: event.MembershipLeave, Reason: "kick"}); err != nil {
		t.Fatal(err)
	}
	if m, _ := rs2.MembershipOf(ctx, roomID, bob); m != event.MembershipLeave {
		t.Fatalf("bob after kick = %q", m)
	}
	rs3, _ := newService(t, db)
	if _, err := rs3.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: bob, Type: "m.room.message", Content: json.RawMessage(`{"body":"x"}`)}); errcode(err) != "M_FORBIDDEN" {
		t.Fatalf("kicked bob sending: %v", err)
	}
	last, err := rs3.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{"body":"bye"}`)})
	if err != nil {
		t.Fatal(err)
	}

	// Concurrent senders share commits; each event still cites the one
	// stored before it, with its hash.
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		go func() {
			_, err := rs3.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{"body":"many"}`)})
			errs <- err
		}()
	}
	for i := 0; i < 16; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	checkStoredLegacyRoom(t, db, roomID, version, map[id.EventID]bool{msg.ID: true})
	if n := len(last.PDU.PrevEvents); n != 1 {
		t.Fatalf("last event has %d prev_events", n)
	}
}

// checkStoredLegacyRoom verifies every stored PDU of the room. redacted
// lists the events expected in redacted form.
func checkStoredLegacyRoom(t *testing.T, db *storage.DB, roomID id.RoomID, version id.RoomVersion, redacted map[id.EventID]bool) {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT event_id, pdu FROM events WHERE room_id = $1 ORDER BY stream_pos`, roomID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	getKey := func(string, id.KeyID, time.Time) (id.SigningKey, time.Time, error) {
		return id.SigningKey(testKey.Public()), time.Now().Add(time.Hour), nil
	}
	refHash := map[id.EventID]string{}
	var prevID id.EventID
	n := 0
	for rows.Next() {
		var eid id.EventID
		var raw string
		if err := rows.Scan(&eid, &raw); err != nil {
			t.Fatal(err)
		}
		n++
		if !originChosenID.MatchString(string(eid)) || gjson.Get(raw, "event_id").Str != string(eid) {
			t.Fatalf("stored %s carries event_id %q", eid, gjson.Get(raw, "event_id").Str)
		}
		// References are [event_id, {"sha256": ...}] pairs.
		for _, field := range []string{"prev_events", "auth_events"} {
			for _, ref := range gjson.Get(raw, field).Array() {
				if !ref.IsArray() || len(ref.Array()) != 2 || ref.Get("1.sha256").Type != gjson.String {
					t.Fatalf("%s of %s is not [id, hashes] pairs: %s", field, eid, gjson.Get(raw, field).Raw)
				}
			}
		}
		var p pdu.RoomV1PDU
		if err := jsonv2.Unmarshal([]byte(raw), &p); err != nil {
			t.Fatalf("stored %s does not parse as a v1 PDU: %v", eid, err)
		}
		if got, err := p.GetEventID(version); err != nil || got != eid {
			t.Fatalf("GetEventID of %s = %q, %v", eid, got, err)
		}
		if err := p.VerifySignature(version, "test.local", getKey); err != nil {
			t.Fatalf("signature of %s: %v", eid, err)
		}
		if redacted[eid] {
			if gjson.Get(raw, "content.body").Exists() {
				t.Fatalf("%s is not redacted: %s", eid, raw)
			}
		} else if !p.VerifyContentHash() {
			t.Fatalf("content hash of %s does not verify", eid)
		}
		for _, ref := range append(append([]pdu.V1EventReference(nil), p.PrevEvents...), p.AuthEvents...) {
			want, ok := refHash[ref.ID]
			if got := base64.RawStdEncoding.EncodeToString(ref.Hashes.SHA256); !ok || got != want {
				t.Fatalf("%s cites %s with hash %s, want its reference hash %s", eid, ref.ID, got, want)
			}
		}
		if prevID != "" && (len(p.PrevEvents) != 1 || p.PrevEvents[0].ID != prevID) {
			t.Fatalf("%s has prev_events %v, want [%s]", eid, p.PrevEvents, prevID)
		}
		if (p.Type == event.StateCreate.Type) != (len(p.AuthEvents) == 0) {
			t.Fatalf("%s (%s) has %d auth_events", eid, p.Type, len(p.AuthEvents))
		}
		h, err := p.GetReferenceHash(version)
		if err != nil {
			t.Fatal(err)
		}
		refHash[eid] = base64.RawStdEncoding.EncodeToString(h[:])
		prevID = eid
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d events stored", n)
	}
}
