package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/url"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestDehydratedDevice(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newE2EEEnv(t, db)
		alice, bob := e.newClient("alice"), e.newClient("bob")
		alice.do("GET", dehydratedPrefix, nil).want(t, 404, "M_NOT_FOUND")

		// The dehydrated device is named after its curve25519 key and signs
		// its own keys, like any device.
		curve := make([]byte, 32)
		_, _ = rand.Read(curve)
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		dev := &e2eeClient{e: e, user: alice.user, device: id.DeviceID(e2eeB64(curve)), priv: priv, pub: e2eeB64(pub)}
		body := map[string]any{
			"device_id":   dev.device,
			"device_data": map[string]any{"algorithm": "org.matrix.msc3814.v1.olm", "device_pickle": "encrypted"},
			"device_keys": dev.deviceKeys(),
			"one_time_keys": map[string]any{"signed_curve25519:AAAAAQ": e2eeSign(map[string]any{"key": e2eeB64(curve)},
				alice.user, "ed25519:"+string(dev.device), priv)},
		}
		r := alice.do("PUT", dehydratedPrefix, body).want(t, 200, "")
		if r.str("device_id") != string(dev.device) {
			t.Fatalf("put: %s", r.Raw)
		}
		r = alice.do("GET", dehydratedPrefix, nil).want(t, 200, "")
		if r.str("device_id") != string(dev.device) || e2eePath(r.Body, "device_data", "device_pickle") != "encrypted" {
			t.Fatalf("get: %s", r.Raw)
		}
		// Others see it and can send it room keys.
		r = bob.do("POST", "/_matrix/client/v3/keys/query", map[string]any{"device_keys": map[string]any{string(alice.user): []string{}}})
		if e2eePath(r.Body, "device_keys", string(alice.user), string(dev.device)) == nil {
			t.Fatalf("dehydrated device not in /keys/query: %s", r.Raw)
		}
		bob.do("PUT", "/_matrix/client/v3/sendToDevice/m.room_key/t1", map[string]any{"messages": map[string]any{
			string(alice.user): map[string]any{string(dev.device): map[string]any{"k": 1}}}}).want(t, 200, "")

		events := dehydratedPrefix + "/" + url.PathEscape(string(dev.device)) + "/events"
		r = alice.do("POST", events, map[string]any{}).want(t, 200, "")
		if list, _ := r.Body["events"].([]any); len(list) != 1 || e2eePath(list[0], "sender") != string(bob.user) {
			t.Fatalf("events: %s", r.Raw)
		}
		r = alice.do("POST", events, map[string]any{"next_batch": r.str("next_batch")}).want(t, 200, "")
		if list, _ := r.Body["events"].([]any); len(list) != 0 || r.str("next_batch") == "" {
			t.Fatalf("last batch: %s", r.Raw)
		}
		alice.do("POST", events, map[string]any{"next_batch": "garbage"}).want(t, 400, "M_INVALID_PARAM")
		alice.do("POST", dehydratedPrefix+"/"+string(alice.device)+"/events", map[string]any{}).want(t, 403, "M_FORBIDDEN")
		bob.do("POST", events, map[string]any{}).want(t, 403, "M_FORBIDDEN")

		// Bad uploads.
		bad := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"no device_id", map[string]any{"device_data": map[string]any{}, "device_keys": dev.deviceKeys()}, 400, "M_MISSING_PARAM"},
			{"device_data not an object", map[string]any{"device_id": "X", "device_data": "x", "device_keys": dev.deviceKeys()}, 400, "M_BAD_JSON"},
			{"no device keys", map[string]any{"device_id": "X", "device_data": map[string]any{}}, 400, "M_MISSING_PARAM"},
			{"keys of another device", map[string]any{"device_id": "X", "device_data": map[string]any{}, "device_keys": dev.deviceKeys()}, 400, "M_INVALID_PARAM"},
			{"the caller's own device", map[string]any{"device_id": alice.device, "device_data": map[string]any{}, "device_keys": alice.deviceKeys()}, 400, "M_INVALID_PARAM"},
		}
		for _, c := range bad {
			t.Run(c.name, func(t *testing.T) { alice.do("PUT", dehydratedPrefix, c.body).want(t, c.status, c.code) })
		}

		r = alice.do("DELETE", dehydratedPrefix, nil).want(t, 200, "")
		if r.str("device_id") != string(dev.device) {
			t.Fatalf("delete: %s", r.Raw)
		}
		alice.do("GET", dehydratedPrefix, nil).want(t, 404, "M_NOT_FOUND")
		r = bob.do("POST", "/_matrix/client/v3/keys/query", map[string]any{"device_keys": map[string]any{string(alice.user): []string{}}})
		if e2eePath(r.Body, "device_keys", string(alice.user), string(dev.device)) != nil {
			t.Fatalf("deleted dehydrated device still has keys: %s", r.Raw)
		}
	})
}
