package events

import (
	"bytes"
	"testing"

	"maunium.net/go/mautrix/crypto/canonicaljson"
	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"
)

func signEncodeKey(t testing.TB) *SigningKey {
	k, err := ParseSigningKey("ed25519 a_test YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSignAndEncodeMatchesLibrary checks that the direct encoder gives the
// event ID, hashes and signature the library computes, and the same PDU
// and client event.
func TestSignAndEncodeMatchesLibrary(t *testing.T) {
	key := signEncodeKey(t)
	str := func(s string) *string { return &s }
	target := id.EventID("$target_event_id_0123456789abcdefghijklmnopqrstu")
	cases := []struct {
		name     string
		typ      string
		stateKey *string
		content  string
		redacts  *id.EventID
	}{
		{"message", "m.room.message", nil, `{"msgtype":"m.text","body":"hello world"}`, nil},
		{"unsorted nested unicode", "m.room.message", nil,
			`{"z":1,"body":"h\u00e9llo <b>&</b> \"quoted\" \\ \n tab\t \u2028 😀","a":{"y":[3,{"b":1,"a":2}],"x":null},"msgtype":"m.text","n":-0,"big":9007199254740991}`, nil},
		{"whitespace", "m.room.message", nil, "{ \"body\" : \"x\" ,\n \"msgtype\":\"m.text\" }", nil},
		{"empty content", "m.custom", nil, ``, nil},
		{"member", "m.room.member", str("@bob:test.local"), `{"membership":"join","displayname":"Bob","avatar_url":"mxc://x/y"}`, nil},
		{"power levels", "m.room.power_levels", str(""), `{"users":{"@alice:test.local":100},"users_default":0,"invite":50,"events":{"m.room.name":50},"ban":50,"kick":50,"redact":50,"state_default":50,"events_default":0,"notifications":{"room":50}}`, nil},
		{"join rules", "m.room.join_rules", str(""), `{"join_rule":"restricted","allow":[{"type":"m.room_membership","room_id":"!a:b"}],"extra":true}`, nil},
		{"create", "m.room.create", str(""), `{"room_version":"10","creator":"@alice:test.local","m.federate":true}`, nil},
		{"redaction", "m.room.redaction", nil, `{"reason":"spam","redacts":"$target_event_id_0123456789abcdefghijklmnopqrstu"}`, &target},
		{"unicode state key", "m.room.member", str("@bøb:test.local"), `{"membership":"invite"}`, nil},
	}
	versions := []id.RoomVersion{id.RoomV3, id.RoomV4, id.RoomV6, id.RoomV8, id.RoomV9, id.RoomV10, id.RoomV11}
	for _, c := range cases {
		for _, v := range versions {
			mk := func() *pdu.PDU {
				p := &pdu.PDU{
					Type: c.typ, StateKey: c.stateKey, Sender: "@alice:test.local", RoomID: "!room:test.local",
					Content: []byte(c.content), OriginServerTS: 1700000000123, Depth: 42,
					PrevEvents: []id.EventID{"$prev_event_id_0123456789abcdefghijklmnopqrstuvw"},
					AuthEvents: []id.EventID{"$auth1_0123456789abcdefghijklmnopqrstuvwxyzABCDE", "$auth2_0123456789abcdefghijklmnopqrstuvwxyzABCDE"},
					Redacts:    c.redacts,
				}
				if c.content == "" {
					p.Content = nil
				}
				return p
			}
			t.Run(c.name+"/v"+string(v), func(t *testing.T) {
				want, slow := mk(), mk()
				if want.Content == nil {
					want.Content = []byte("{}")
					slow.Content = []byte("{}")
				}
				wantEnc, err := signAndEncodeSlow(slow, v, "test.local", key)
				if err != nil {
					t.Fatal(err)
				}
				got := mk()
				if got.Content == nil {
					got.Content = []byte("{}")
				}
				enc, err := SignAndEncode(got, v, "test.local", key)
				if err != nil {
					t.Fatal(err)
				}
				if enc.ID != wantEnc.ID {
					t.Errorf("event ID = %s, want %s", enc.ID, wantEnc.ID)
				}
				if !bytes.Equal(got.Hashes.SHA256, slow.Hashes.SHA256) {
					t.Errorf("hash differs")
				}
				if got.Signatures["test.local"][key.ID] != slow.Signatures["test.local"][key.ID] {
					t.Errorf("signature differs")
				}
				canonWant, err := canonicaljson.CanonicalJSON(wantEnc.PDU)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(enc.PDU, canonWant) {
					t.Errorf("PDU JSON\n got %s\nwant %s", enc.PDU, canonWant)
				}
				if !sameJSON(t, enc.Client, wantEnc.Client) {
					t.Errorf("client JSON\n got %s\nwant %s", enc.Client, wantEnc.Client)
				}
				// The stored PDU reads back as the signed event.
				back, err := DecodePDU(enc.PDU)
				if err != nil {
					t.Fatal(err)
				}
				if backID, _ := back.GetEventID(v); backID != enc.ID {
					t.Errorf("decoded PDU has event ID %s, want %s", backID, enc.ID)
				}
			})
		}
	}
}

// sameJSON compares canonical forms: the direct encoder writes the
// canonical content, json.Marshal the content as sent (-0 stays -0).
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	ca, err := canonicaljson.CanonicalJSON(a)
	if err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	cb, err := canonicaljson.CanonicalJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return bytes.Equal(ca, cb)
}

func TestSignAndEncodeTooLarge(t *testing.T) {
	key := signEncodeKey(t)
	body := bytes.Repeat([]byte("a"), MaxEventSize)
	p := &pdu.PDU{Type: "m.room.message", Sender: "@alice:test.local", RoomID: "!room:test.local",
		Content: []byte(`{"body":"` + string(body) + `"}`), OriginServerTS: 1, Depth: 2,
		PrevEvents: []id.EventID{"$p"}, AuthEvents: []id.EventID{}}
	if _, err := SignAndEncode(p, id.RoomV10, "test.local", key); err != ErrTooLarge {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func BenchmarkSignAndEncode(b *testing.B) {
	key := signEncodeKey(b)
	mk := func() *pdu.PDU {
		return &pdu.PDU{Type: "m.room.message", Sender: "@alice:test.local", RoomID: "!room:test.local",
			Content: []byte(`{"msgtype":"m.text","body":"one sender 1234"}`), OriginServerTS: 1700000000123, Depth: 42,
			PrevEvents: []id.EventID{"$prev_event_id_0123456789abcdefghijklmnopqrstuvw"},
			AuthEvents: []id.EventID{"$auth1_0123456789abcdefghijklmnopqrstuvwxyzABCDE", "$auth2_0123456789abcdefghijklmnopqrstuvwxyzABCDE", "$auth3_0123456789abcdefghijklmnopqrstuvwxyzABCDE"}}
	}
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if _, err := SignAndEncode(mk(), id.RoomV10, "test.local", key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("library", func(b *testing.B) {
		for b.Loop() {
			if _, err := signAndEncodeSlow(mk(), id.RoomV10, "test.local", key); err != nil {
				b.Fatal(err)
			}
		}
	})
}
