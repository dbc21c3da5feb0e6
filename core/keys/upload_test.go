package keys_test

import (
	"encoding/json"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

func TestUploadAndQuery(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		alice, bob := e.user("alice"), e.user("bob")
		e.shareRoom(alice, bob)
		phone, laptop := e.device(alice, "PHONE"), e.device(alice, "LAPTOP")

		counts, err := e.keys.Upload(e.ctx, alice, "PHONE", keys.UploadRequest{
			DeviceKeys: phone.deviceKeys(), OneTimeKeys: phone.otks(5), FallbackKeys: phone.fallback(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if counts["signed_curve25519"] != 5 {
			t.Fatalf("one_time_key_counts = %v, want 5 signed_curve25519", counts)
		}
		if woken := e.lastWoken(stream.KindDeviceList); len(woken) != 2 {
			t.Fatalf("device key upload woke %v, want alice and bob", woken)
		}
		if _, err := e.keys.Upload(e.ctx, alice, "LAPTOP", keys.UploadRequest{DeviceKeys: laptop.deviceKeys()}); err != nil {
			t.Fatal(err)
		}

		raw, err := e.keys.Query(e.ctx, bob, map[id.UserID][]id.DeviceID{
			alice: nil, bob: nil, "@nobody:test.local": nil, "@carol:elsewhere.org": nil,
		})
		if err != nil {
			t.Fatal(err)
		}
		resp := decode(t, raw)
		got := path(resp, "device_keys", string(alice), "PHONE")
		if path(got, "keys", "ed25519:PHONE") != phone.pub || path(got, "user_id") != string(alice) {
			t.Fatalf("PHONE keys = %v", got)
		}
		if path(got, "unsigned", "device_display_name") != "Phone of "+string(alice) {
			t.Fatalf("PHONE unsigned = %v", path(got, "unsigned"))
		}
		if path(got, "signatures", string(alice), "ed25519:PHONE") == nil {
			t.Fatalf("PHONE lost its self-signature: %v", got)
		}
		if path(resp, "device_keys", string(alice), "LAPTOP") == nil {
			t.Fatal("LAPTOP missing")
		}
		if m, ok := path(resp, "device_keys", "@nobody:test.local").(map[string]any); !ok || len(m) != 0 {
			t.Fatalf("unknown local user = %v, want {}", path(resp, "device_keys", "@nobody:test.local"))
		}
		if path(resp, "failures", "elsewhere.org") == nil {
			t.Fatalf("remote server not in failures: %v", resp["failures"])
		}

		// A device list narrows the answer.
		raw, _ = e.keys.Query(e.ctx, bob, map[id.UserID][]id.DeviceID{alice: {"LAPTOP", "GONE"}})
		devs := path(decode(t, raw), "device_keys", string(alice)).(map[string]any)
		if len(devs) != 1 || devs["LAPTOP"] == nil {
			t.Fatalf("filtered query = %v", devs)
		}

		// Re-uploading the same keys changes nothing and wakes nobody.
		before := e.wokenCount()
		if _, err := e.keys.Upload(e.ctx, alice, "PHONE", keys.UploadRequest{DeviceKeys: phone.deviceKeys()}); err != nil {
			t.Fatal(err)
		}
		if e.wokenCount() != before {
			t.Fatal("identical re-upload was written through the stream")
		}

		// Deleting the device deletes its keys.
		if err := e.acc.DeleteDevices(e.ctx, alice, []id.DeviceID{"PHONE"}); err != nil {
			t.Fatal(err)
		}
		raw, _ = e.keys.Query(e.ctx, bob, map[id.UserID][]id.DeviceID{alice: nil})
		if path(decode(t, raw), "device_keys", string(alice), "PHONE") != nil {
			t.Fatal("deleted device still has keys")
		}
		if c, _ := e.keys.OneTimeKeyCounts(e.ctx, alice, "PHONE"); c["signed_curve25519"] != 0 {
			t.Fatalf("deleted device still has one-time keys: %v", c)
		}
	})
}

func TestUploadRejectsBadKeys(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		alice, bob := e.user("alice"), e.user("bob")
		d := e.device(alice, "DEV")
		other := newDevice(bob, "DEV")
		wrongDevice := newDevice(alice, "OTHER")

		forged := d.keysObject()
		forged = sign(forged, alice, "ed25519:DEV", wrongDevice.priv) // signed by the wrong key
		tampered := sign(d.keysObject(), alice, "ed25519:DEV", d.priv)
		tampered["algorithms"] = []string{"m.olm.v1.curve25519-aes-sha2"}
		noCurve := d.keysObject()
		delete(noCurve["keys"].(map[string]any), "curve25519:DEV")
		noCurve = sign(noCurve, alice, "ed25519:DEV", d.priv)
		shortKey := d.keysObject()
		shortKey["keys"].(map[string]any)["ed25519:DEV"] = "c2hvcnQ"

		cases := []struct {
			name string
			req  keys.UploadRequest
			code string
		}{
			{"someone else's user", keys.UploadRequest{DeviceKeys: other.deviceKeys()}, "M_FORBIDDEN"},
			{"another device", keys.UploadRequest{DeviceKeys: wrongDevice.deviceKeys()}, "M_INVALID_PARAM"},
			{"signed by another key", keys.UploadRequest{DeviceKeys: mustJSON(forged)}, "M_INVALID_SIGNATURE"},
			{"changed after signing", keys.UploadRequest{DeviceKeys: mustJSON(tampered)}, "M_INVALID_SIGNATURE"},
			{"no curve25519 key", keys.UploadRequest{DeviceKeys: mustJSON(noCurve)}, "M_INVALID_PARAM"},
			{"short ed25519 key", keys.UploadRequest{DeviceKeys: mustJSON(shortKey)}, "M_INVALID_PARAM"},
			{"not an object", keys.UploadRequest{DeviceKeys: json.RawMessage(`"keys"`)}, "M_BAD_JSON"},
			{"keys of the wrong type", keys.UploadRequest{DeviceKeys: json.RawMessage(`{"user_id":"@alice:test.local","keys":[1]}`)}, "M_BAD_JSON"},
			{"one-time key without algorithm", keys.UploadRequest{OneTimeKeys: map[string]json.RawMessage{"AAAA": json.RawMessage(`"a2V5"`)}}, "M_INVALID_PARAM"},
			{"one-time key of the wrong type", keys.UploadRequest{OneTimeKeys: map[string]json.RawMessage{"curve25519:A": json.RawMessage(`42`)}}, "M_INVALID_PARAM"},
			{"signed key without key", keys.UploadRequest{OneTimeKeys: map[string]json.RawMessage{"signed_curve25519:A": json.RawMessage(`{"signatures":{}}`)}}, "M_INVALID_PARAM"},
			{"two fallback keys of one algorithm", keys.UploadRequest{FallbackKeys: map[string]json.RawMessage{
				"curve25519:A": json.RawMessage(`"a2V5"`), "curve25519:B": json.RawMessage(`"a2V5"`)}}, "M_INVALID_PARAM"},
		}
		for _, c := range cases {
			if _, err := e.keys.Upload(e.ctx, alice, "DEV", c.req); errcode(err) != c.code {
				t.Errorf("%s: got %v, want %s", c.name, err, c.code)
			}
		}
		raw, _ := e.keys.Query(e.ctx, alice, map[id.UserID][]id.DeviceID{alice: nil})
		if path(decode(t, raw), "device_keys", string(alice), "DEV") != nil {
			t.Fatal("a rejected upload stored keys")
		}

		// A one-time key ID may not be reused for other key material.
		first := map[string]json.RawMessage{"curve25519:AAAAAQ": json.RawMessage(`"a2V5MQ"`)}
		if _, err := e.keys.Upload(e.ctx, alice, "DEV", keys.UploadRequest{OneTimeKeys: first}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.keys.Upload(e.ctx, alice, "DEV", keys.UploadRequest{OneTimeKeys: first}); err != nil {
			t.Fatalf("identical one-time key re-upload: %v", err)
		}
		second := map[string]json.RawMessage{"curve25519:AAAAAQ": json.RawMessage(`"a2V5Mg"`)}
		if _, err := e.keys.Upload(e.ctx, alice, "DEV", keys.UploadRequest{OneTimeKeys: second}); errcode(err) != "M_INVALID_PARAM" {
			t.Fatalf("reused one-time key ID: %v", err)
		}
	})
}
