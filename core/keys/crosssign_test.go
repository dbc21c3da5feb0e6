package keys_test

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// crossKeys is a user's cross-signing key set.
type crossKeys struct {
	user                        id.UserID
	master, self, userSign      ed25519.PrivateKey
	masterPub, selfPub, userPub string
}

func newCrossKeys(user id.UserID) *crossKeys {
	c := &crossKeys{user: user}
	c.master, c.masterPub = newKey()
	c.self, c.selfPub = newKey()
	c.userSign, c.userPub = newKey()
	return c
}

func csKey(user id.UserID, usage, pub string) map[string]any {
	return map[string]any{"user_id": user, "usage": []string{usage}, "keys": map[string]any{"ed25519:" + pub: pub}}
}

func (c *crossKeys) masterObj() map[string]any { return csKey(c.user, "master", c.masterPub) }

func (c *crossKeys) request() keys.CrossSigningRequest {
	mk := "ed25519:" + c.masterPub
	return keys.CrossSigningRequest{
		MasterKey:      mustJSON(c.masterObj()),
		SelfSigningKey: mustJSON(sign(csKey(c.user, "self_signing", c.selfPub), c.user, mk, c.master)),
		UserSigningKey: mustJSON(sign(csKey(c.user, "user_signing", c.userPub), c.user, mk, c.master)),
	}
}

func TestCrossSigningUpload(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		alice, bob := e.user("alice"), e.user("bob")
		e.shareRoom(alice, bob)
		ck := newCrossKeys(alice)
		req := ck.request()

		if need, err := e.keys.CrossSigningNeedsAuth(e.ctx, alice, req); err != nil || need {
			t.Fatalf("first upload needs auth = %v, %v; want false (MSC3967)", need, err)
		}
		if err := e.keys.UploadCrossSigning(e.ctx, alice, req); err != nil {
			t.Fatal(err)
		}
		if woken := e.lastWoken(stream.KindDeviceList); len(woken) != 2 {
			t.Fatalf("cross-signing upload woke %v, want alice and bob", woken)
		}
		if need, _ := e.keys.CrossSigningNeedsAuth(e.ctx, alice, req); need {
			t.Fatal("re-uploading the same keys needs auth")
		}
		if need, _ := e.keys.CrossSigningNeedsAuth(e.ctx, alice, newCrossKeys(alice).request()); !need {
			t.Fatal("replacing the master key does not need auth")
		}

		// Others see master and self-signing keys; only alice her user-signing key.
		raw, _ := e.keys.Query(e.ctx, bob, map[id.UserID][]id.DeviceID{alice: nil})
		resp := decode(t, raw)
		if path(resp, "master_keys", string(alice), "keys", "ed25519:"+ck.masterPub) != ck.masterPub {
			t.Fatalf("master_keys = %v", resp["master_keys"])
		}
		if path(resp, "self_signing_keys", string(alice), "signatures", string(alice), "ed25519:"+ck.masterPub) == nil {
			t.Fatalf("self_signing_keys = %v", resp["self_signing_keys"])
		}
		if m := resp["user_signing_keys"].(map[string]any); len(m) != 0 {
			t.Fatalf("bob sees alice's user-signing key: %v", m)
		}
		raw, _ = e.keys.Query(e.ctx, alice, map[id.UserID][]id.DeviceID{alice: nil})
		if path(decode(t, raw), "user_signing_keys", string(alice)) == nil {
			t.Fatal("alice does not see her own user-signing key")
		}

		// Bad uploads.
		other := newCrossKeys(alice)
		badSelf := sign(csKey(alice, "self_signing", other.selfPub), alice, "ed25519:"+ck.masterPub, other.master)
		_, devKey := newKey()
		e.device(alice, devKey) // dehydrated devices are named after a key
		cases := []struct {
			name string
			req  keys.CrossSigningRequest
			code string
		}{
			{"self-signing key not signed by the master key", keys.CrossSigningRequest{SelfSigningKey: mustJSON(badSelf)}, "M_INVALID_SIGNATURE"},
			{"wrong usage", keys.CrossSigningRequest{MasterKey: mustJSON(csKey(alice, "self_signing", other.masterPub))}, "M_INVALID_PARAM"},
			{"someone else's key", keys.CrossSigningRequest{MasterKey: mustJSON(csKey(bob, "master", other.masterPub))}, "M_FORBIDDEN"},
			{"key name is not the key", keys.CrossSigningRequest{MasterKey: json.RawMessage(`{"user_id":"@alice:test.local","usage":["master"],"keys":{"ed25519:abc":"def"}}`)}, "M_INVALID_PARAM"},
			{"public key is a device ID", keys.CrossSigningRequest{MasterKey: mustJSON(csKey(alice, "master", devKey))}, "M_FORBIDDEN"},
			{"public key too short", keys.CrossSigningRequest{MasterKey: mustJSON(csKey(alice, "master", "DEVX"))}, "M_INVALID_PARAM"},
			{"not an object", keys.CrossSigningRequest{MasterKey: json.RawMessage(`[]`)}, "M_BAD_JSON"},
		}
		for _, c := range cases {
			if err := e.keys.UploadCrossSigning(e.ctx, alice, c.req); errcode(err) != c.code {
				t.Errorf("%s: got %v, want %s", c.name, err, c.code)
			}
		}
		// Without a master key nothing can be signed.
		carol := e.user("carol")
		cc := newCrossKeys(carol)
		if err := e.keys.UploadCrossSigning(e.ctx, carol, keys.CrossSigningRequest{SelfSigningKey: cc.request().SelfSigningKey}); errcode(err) != "M_MISSING_PARAM" {
			t.Fatalf("self-signing key without master: %v", err)
		}
	})
}

func TestSignatureUpload(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		alice, bob := e.user("alice"), e.user("bob")
		e.shareRoom(alice, bob)
		dev := e.device(alice, "DEV")
		if _, err := e.keys.Upload(e.ctx, alice, "DEV", keys.UploadRequest{DeviceKeys: dev.deviceKeys()}); err != nil {
			t.Fatal(err)
		}
		ak, bk := newCrossKeys(alice), newCrossKeys(bob)
		if err := e.keys.UploadCrossSigning(e.ctx, alice, ak.request()); err != nil {
			t.Fatal(err)
		}
		if err := e.keys.UploadCrossSigning(e.ctx, bob, bk.request()); err != nil {
			t.Fatal(err)
		}
		devObj := func() map[string]any { return sign(dev.keysObject(), alice, "ed25519:DEV", dev.priv) }

		// alice's self-signing key signs her device, her device signs her master key.
		signedDev := sign(devObj(), alice, "ed25519:"+ak.selfPub, ak.self)
		signedMaster := sign(ak.masterObj(), alice, "ed25519:DEV", dev.priv)
		fails, err := e.keys.UploadSignatures(e.ctx, alice, map[id.UserID]map[string]json.RawMessage{
			alice: {"DEV": mustJSON(signedDev), ak.masterPub: mustJSON(signedMaster)},
		})
		if err != nil || len(fails) != 0 {
			t.Fatalf("upload own signatures: %v %v", fails, err)
		}
		// bob's user-signing key signs alice's master key.
		bobSigned := sign(ak.masterObj(), bob, "ed25519:"+bk.userPub, bk.userSign)
		fails, err = e.keys.UploadSignatures(e.ctx, bob, map[id.UserID]map[string]json.RawMessage{alice: {ak.masterPub: mustJSON(bobSigned)}})
		if err != nil || len(fails) != 0 {
			t.Fatalf("bob signs alice: %v %v", fails, err)
		}
		if woken := e.lastWoken(stream.KindDeviceList); len(woken) != 1 || woken[0] != string(bob) {
			t.Fatalf("bob's signature of alice woke %v, want only bob", woken)
		}

		raw, _ := e.keys.Query(e.ctx, bob, map[id.UserID][]id.DeviceID{alice: nil})
		resp := decode(t, raw)
		if path(resp, "device_keys", string(alice), "DEV", "signatures", string(alice), "ed25519:"+ak.selfPub) == nil {
			t.Fatalf("device lacks the self-signing signature: %v", path(resp, "device_keys", string(alice), "DEV"))
		}
		master := path(resp, "master_keys", string(alice), "signatures")
		if path(master, string(alice), "ed25519:DEV") == nil || path(master, string(bob), "ed25519:"+bk.userPub) == nil {
			t.Fatalf("bob's view of alice's master key signatures: %v", master)
		}
		raw, _ = e.keys.Query(e.ctx, alice, map[id.UserID][]id.DeviceID{alice: nil})
		if path(decode(t, raw), "master_keys", string(alice), "signatures", string(bob)) != nil {
			t.Fatal("alice sees the signature bob's user-signing key made")
		}

		// Signatures over the wrong data, by the wrong key, over unknown keys.
		tampered := sign(devObj(), alice, "ed25519:"+ak.selfPub, ak.self)
		tampered["keys"].(map[string]any)["curve25519:DEV"] = b64(make([]byte, 32))
		wrongKey := sign(devObj(), alice, "ed25519:"+ak.selfPub, ak.userSign)
		badSig := devObj()
		badSig["signatures"].(map[string]any)[string(alice)].(map[string]any)["ed25519:"+ak.selfPub] = "bm90IGEgc2lnbmF0dXJl"
		fails, err = e.keys.UploadSignatures(e.ctx, alice, map[id.UserID]map[string]json.RawMessage{
			alice: {"DEV": mustJSON(tampered), "NOPE": mustJSON(devObj()), ak.masterPub: json.RawMessage(`"x"`)},
			bob:   {bk.masterPub: mustJSON(sign(bk.masterObj(), alice, "ed25519:"+ak.userPub, ak.self))},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := map[[2]string]string{
			{string(alice), "DEV"}:        "M_INVALID_SIGNATURE",
			{string(alice), "NOPE"}:       "M_NOT_FOUND",
			{string(alice), ak.masterPub}: "M_BAD_JSON",
			{string(bob), bk.masterPub}:   "M_INVALID_SIGNATURE",
		}
		for k, code := range want {
			if f := fails[id.UserID(k[0])][k[1]]; f == nil || f.ErrCode != code {
				t.Errorf("failure for %v = %+v, want %s", k, f, code)
			}
		}
		for _, obj := range []map[string]any{wrongKey, badSig} {
			fails, _ = e.keys.UploadSignatures(e.ctx, alice, map[id.UserID]map[string]json.RawMessage{alice: {"DEV": mustJSON(obj)}})
			if f := fails[alice]["DEV"]; f == nil || f.ErrCode != "M_INVALID_SIGNATURE" {
				t.Errorf("bad signature accepted: %+v", f)
			}
		}

		// A new user-signing key drops the signatures of the old one.
		bk2 := newCrossKeys(bob)
		bk2.master, bk2.masterPub = bk.master, bk.masterPub
		if err := e.keys.UploadCrossSigning(e.ctx, bob, keys.CrossSigningRequest{UserSigningKey: bk2.request().UserSigningKey}); err != nil {
			t.Fatal(err)
		}
		raw, _ = e.keys.Query(e.ctx, bob, map[id.UserID][]id.DeviceID{alice: nil})
		if path(decode(t, raw), "master_keys", string(alice), "signatures", string(bob)) != nil {
			t.Fatal("signature by a replaced user-signing key still served")
		}
	})
}
