package e2ee

import (
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// TestPrivateRoomsEncryptedByDefault: with the default
// encryption_enabled_by_default_for_room_type (invite), a private room or a
// DM is encrypted from its first event without the client asking, and a
// public room is not.
func TestPrivateRoomsEncryptedByDefault(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		alice := newMXClient(t, s, "alice")
		for _, c := range []struct {
			req       mautrix.ReqCreateRoom
			encrypted bool
		}{
			{mautrix.ReqCreateRoom{Preset: "private_chat"}, true},
			{mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true}, true},
			{mautrix.ReqCreateRoom{Preset: "public_chat"}, false},
		} {
			resp, err := alice.CreateRoom(t.Context(), &c.req)
			if err != nil {
				t.Fatal(err)
			}
			var content event.EncryptionEventContent
			err = alice.StateEvent(t.Context(), resp.RoomID, event.StateEncryption, "", &content)
			if got := err == nil && content.Algorithm != ""; got != c.encrypted {
				t.Errorf("%s room: encrypted = %v (%v), want %v", c.req.Preset, got, err, c.encrypted)
			}
		}
	})
}
