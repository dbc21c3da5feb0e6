package e2ee

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix"
)

// TestMautrixPairExchange: two mautrix-go clients (goolm) in an encrypted
// room exchange messages both ways and each decrypts the other's; a third
// user who joins later decrypts what is sent after she joined. It also
// measures the encrypted round trip (send on one client -> decrypted on the
// other).
func TestMautrixPairExchange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		alice, bob := newMXClient(t, s, "alice"), newMXClient(t, s, "bob")
		room := alice.encryptedRoom(bob.UserID)
		bob.join(room)
		alice.waitMember(room, bob.UserID)

		alice.send(room, "hello bob, this is encrypted")
		bob.waitMessage(room, "hello bob, this is encrypted")
		bob.send(room, "hi alice, decrypted you fine")
		alice.waitMessage(room, "hi alice, decrypted you fine")

		// carol joins later and gets the session for what follows.
		carol := newMXClient(t, s, "carol")
		if _, err := alice.InviteUser(t.Context(), room, &mautrix.ReqInviteUser{UserID: carol.UserID}); err != nil {
			t.Fatal(err)
		}
		carol.join(room)
		alice.waitMember(room, carol.UserID)
		bob.waitMember(room, carol.UserID)
		alice.send(room, "welcome carol")
		carol.waitMessage(room, "welcome carol")
		bob.waitMessage(room, "welcome carol")
		carol.send(room, "thanks, I can read this")
		alice.waitMessage(room, "thanks, I can read this")
		bob.waitMessage(room, "thanks, I can read this")

		// Round trips, alternating directions, both clients' crypto included.
		const n = 30
		var lat []time.Duration
		for i := 0; i < n; i++ {
			from, to := alice, bob
			if i%2 == 1 {
				from, to = bob, alice
			}
			body := fmt.Sprintf("round trip %d", i)
			start := time.Now()
			from.send(room, body)
			got := to.waitMessage(room, body)
			lat = append(lat, got.at.Sub(start))
		}
		slices.Sort(lat)
		t.Logf("mautrix pair (%s): encrypted round trip p50 %v, p90 %v, max %v over %d messages",
			backend, lat[n/2], lat[n*9/10], lat[n-1], n)
	})
}
