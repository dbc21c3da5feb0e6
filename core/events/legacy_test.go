package events_test

import (
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/events"
)

var key = func() *events.SigningKey {
	k, err := events.ParseSigningKey("ed25519 a_test YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE")
	if err != nil {
		panic(err)
	}
	return k
}()

func getKey(string, id.KeyID, time.Time) (id.SigningKey, time.Time, error) {
	return id.SigningKey(key.Public()), time.Now().Add(time.Hour), nil
}

func TestOriginChosenIDs(t *testing.T) {
	for v, want := range map[id.RoomVersion]bool{id.RoomV1: true, id.RoomV2: true, id.RoomV3: false, id.RoomV11: false, "99": false} {
		if got := events.OriginChosenIDs(v); got != want {
			t.Errorf("OriginChosenIDs(%q) = %v", v, got)
		}
	}
	eid := events.NewEventID("example.org:8448")
	if !strings.HasPrefix(string(eid), "$") || events.EventIDServer(eid) != "example.org:8448" || eid == events.NewEventID("example.org:8448") {
		t.Fatalf("NewEventID = %q", eid)
	}
}

// TestSignV1 signs a create event and an event citing it, stores them and
// reads them back, checking them with mautrix's own v1 PDU code.
func TestSignV1(t *testing.T) {
	create := &pdu.PDU{Type: "m.room.create", StateKey: new(""), Sender: "@a:example.org", RoomID: "!r:example.org",
		Content: []byte(`{"creator":"@a:example.org","room_version":"1"}`), OriginServerTS: 1, Depth: 1, AuthEvents: []id.EventID{}}
	create.InternalMeta.EventID = "$create:example.org"
	v1Create, err := events.SignV1(create, id.RoomV1, nil, nil, "example.org", key)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := events.RefOf(v1Create, id.RoomV1)
	if err != nil {
		t.Fatal(err)
	}
	msg := &pdu.PDU{Type: "m.room.message", Sender: "@a:example.org", RoomID: "!r:example.org",
		Content: []byte(`{"body":"hi"}`), OriginServerTS: 2, Depth: 2,
		PrevEvents: []id.EventID{create.InternalMeta.EventID}, AuthEvents: []id.EventID{create.InternalMeta.EventID}}
	if _, err := events.SignV1(msg, id.RoomV1, nil, []pdu.V1EventReference{ref}, "example.org", key); err == nil {
		t.Fatal("SignV1 accepted prev_events without references")
	}
	msg.InternalMeta.EventID = "$msg:example.org"
	v1Msg, err := events.SignV1(msg, id.RoomV1, []pdu.V1EventReference{ref}, []pdu.V1EventReference{ref}, "example.org", key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := events.EncodePDU(v1Msg)
	if err != nil {
		t.Fatal(err)
	}
	want := `"prev_events":[["$create:example.org",{"sha256":"`
	if !strings.Contains(string(data), want) || !strings.Contains(string(data), `"event_id":"$msg:example.org"`) {
		t.Fatalf("stored form %s lacks %s or its event_id", data, want)
	}
	back, err := events.DecodeV1PDU(data)
	if err != nil {
		t.Fatal(err)
	}
	if !back.VerifyContentHash() {
		t.Fatal("content hash does not verify")
	}
	if err := back.VerifySignature(id.RoomV1, "example.org", getKey); err != nil {
		t.Fatal(err)
	}
	if err := back.Clone().Redact(id.RoomV1).VerifySignature(id.RoomV1, "example.org", getKey); err != nil {
		t.Fatalf("redacted form: %v", err)
	}
	view := events.ToView(back)
	if eid, err := view.GetEventID(id.RoomV1); err != nil || eid != "$msg:example.org" {
		t.Fatalf("view event ID = %q, %v", eid, err)
	}
	if len(view.PrevEvents) != 1 || view.PrevEvents[0] != "$create:example.org" || string(view.Content) != `{"body":"hi"}` {
		t.Fatalf("view = %+v", view)
	}
	if _, err := events.DecodeV1PDU([]byte(`{"type":"m.room.message","prev_events":[],"auth_events":[]}`)); err == nil {
		t.Fatal("DecodeV1PDU accepted a PDU without event_id")
	}
}

func TestSignRefusesLegacyVersions(t *testing.T) {
	p := &pdu.PDU{Type: "m.room.message", Sender: "@a:example.org", RoomID: "!r:example.org", Content: []byte(`{}`)}
	p.InternalMeta.EventID = "$x:example.org"
	if _, err := events.Sign(p, id.RoomV2, "example.org", key); err == nil {
		t.Fatal("Sign signed the v3 form of a room version 2 event")
	}
}
