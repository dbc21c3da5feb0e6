package e2e

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestSlidingSync drives the real server the way Element X does: it
// checks /versions advertises simplified sliding sync (MSC4186), runs the
// "room-list" and "encryption" connections, sees another user's message
// arrive, and after a restart gets M_UNKNOWN_POS, which makes
// matrix-rust-sdk start its connections over.
func TestSlidingSync(t *testing.T) {
	s := startServer(t, "sqlite")
	alice := s.register(t, "alice")
	bob := s.register(t, "bob")
	versions := s.raw(t, "GET", "/_matrix/client/versions", "", nil)
	if !gjson.GetBytes(versions.Body, `unstable_features.org\.matrix\.simplified_msc3575`).Bool() {
		t.Fatalf("/versions does not advertise org.matrix.simplified_msc3575: %s", versions.Body)
	}
	created, err := alice.CreateRoom(t.Context(), &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", Name: "lounge", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(t.Context(), created.RoomID); err != nil {
		t.Fatal(err)
	}
	const path = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
	slide := func(query string, body map[string]any) rawResponse {
		t.Helper()
		data, _ := json.Marshal(body)
		return s.raw(t, "POST", path+query, bob.AccessToken, data)
	}
	roomList := map[string]any{"conn_id": "room-list",
		"lists": map[string]any{"all_rooms": map[string]any{"ranges": [][2]int{{0, 19}}, "timeline_limit": 1,
			"required_state": [][2]string{{"m.room.name", ""}, {"m.room.member", "$LAZY"}, {"m.room.member", "$ME"}}}},
		"extensions": map[string]any{"account_data": map[string]any{"enabled": true}, "receipts": map[string]any{"enabled": true, "rooms": []string{"*"}},
			"typing": map[string]any{"enabled": true}}}
	encryption := map[string]any{"conn_id": "encryption",
		"extensions": map[string]any{"to_device": map[string]any{"enabled": true}, "e2ee": map[string]any{"enabled": true}}}

	first := slide("?timeout=0", roomList)
	room := gjson.GetBytes(first.Body, "rooms."+escapeKey(string(created.RoomID)))
	if first.Status != http.StatusOK || room.Get("name").Str != "lounge" || gjson.GetBytes(first.Body, "lists.all_rooms.count").Int() != 1 {
		t.Fatalf("room-list: %d %s", first.Status, first.Body)
	}
	enc := slide("?timeout=0", encryption)
	if enc.Status != http.StatusOK || !gjson.GetBytes(enc.Body, "extensions.e2ee.device_one_time_keys_count").Exists() ||
		gjson.GetBytes(enc.Body, "extensions.to_device.next_batch").Str == "" {
		t.Fatalf("encryption: %d %s", enc.Status, enc.Body)
	}
	if _, err := alice.SendText(t.Context(), created.RoomID, "hello bob"); err != nil {
		t.Fatal(err)
	}
	next := slide("?timeout=10000&pos="+gjson.GetBytes(first.Body, "pos").Str, roomList)
	msg := gjson.GetBytes(next.Body, "rooms."+escapeKey(string(created.RoomID))+".timeline.0")
	if next.Status != http.StatusOK || msg.Get("type").Str != event.EventMessage.Type || msg.Get("content.body").Str != "hello bob" {
		t.Fatalf("incremental: %d %s", next.Status, next.Body)
	}

	s.restart(t)
	again := slide("?timeout=0&pos="+gjson.GetBytes(next.Body, "pos").Str, roomList)
	if again.Status != http.StatusBadRequest || gjson.GetBytes(again.Body, "errcode").Str != "M_UNKNOWN_POS" {
		t.Fatalf("after a restart: %d %s", again.Status, again.Body)
	}
	if fresh := slide("?timeout=0", roomList); fresh.Status != http.StatusOK || !gjson.GetBytes(fresh.Body, "rooms."+escapeKey(string(created.RoomID))).Exists() {
		t.Fatalf("new connection after a restart: %d %s", fresh.Status, fresh.Body)
	}
}

// escapeKey escapes a room ID for a gjson path.
func escapeKey(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', '*', '?', '|', '#', '@', '\\', '!', '=', '<', '>', '%', ':':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}
