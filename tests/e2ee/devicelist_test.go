package e2ee

import (
	"context"
	"testing"
)

// TestDeviceListPropagation: when alice adds a device, bob (sharing a
// room) sees her in device_lists.changed on his next /sync and encrypts to
// the new device too.
func TestDeviceListPropagation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		alice, bob := newMXClient(t, s, "alice"), newMXClient(t, s, "bob")
		room := alice.encryptedRoom(bob.UserID)
		bob.join(room)
		alice.waitMember(room, bob.UserID)
		bob.send(room, "before the new device")
		alice.waitMessage(room, "before the new device")

		bob.mu.Lock()
		before := bob.changed[alice.UserID]
		bob.mu.Unlock()
		alice2 := loginMXClient(t, s, alice)
		bob.waitFor("alice in device_lists.changed", func() bool { return bob.changed[alice.UserID] > before })

		// mautrix fetches the changed device list in the background and then
		// drops its outbound session; a message sent before that finished
		// would still use the old session (client-side, not server, timing).
		store := bob.helper.Machine().CryptoStore
		bob.waitFor("bob's client to learn alice's new device", func() bool {
			dev, err := store.GetDevice(context.Background(), alice.UserID, alice2.DeviceID)
			if err != nil || dev == nil {
				return false
			}
			sess, err := store.GetOutboundGroupSession(context.Background(), room)
			return err == nil && sess == nil
		})

		alice2.waitMember(room, bob.UserID)
		bob.send(room, "after the new device")
		alice2.waitMessage(room, "after the new device")
		alice.waitMessage(room, "after the new device")

		// Alice's other device hears of it too, and so does alice.
		alice.waitFor("own new device in device_lists.changed", func() bool { return alice.changed[alice.UserID] > 0 })
	})
}
