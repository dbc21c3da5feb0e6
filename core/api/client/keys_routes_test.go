package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestKeysEndpoints(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newE2EEEnv(t, db)
		alice, bob := e.newClient("alice"), e.newClient("bob")
		start := e.w.Pos()
		otk := e2eeSign(map[string]any{"key": e2eeB64(make([]byte, 32))}, alice.user, "ed25519:"+string(alice.device), alice.priv)
		r := alice.do("POST", "/_matrix/client/v3/keys/upload", map[string]any{
			"device_keys":   alice.deviceKeys(),
			"one_time_keys": map[string]any{"signed_curve25519:AAAAAQ": otk},
		}).want(t, 200, "")
		if e2eePath(r.Body, "one_time_key_counts", "signed_curve25519") != 1.0 {
			t.Fatalf("upload: %s", r.Raw)
		}
		r = bob.do("POST", "/_matrix/client/v3/keys/query", map[string]any{"device_keys": map[string]any{string(alice.user): []string{}}}).want(t, 200, "")
		if e2eePath(r.Body, "device_keys", string(alice.user), string(alice.device), "keys", "ed25519:"+string(alice.device)) != alice.pub {
			t.Fatalf("query: %s", r.Raw)
		}
		r = bob.do("POST", "/_matrix/client/v3/keys/claim", map[string]any{
			"one_time_keys": map[string]any{string(alice.user): map[string]string{string(alice.device): "signed_curve25519", "NOPE": "signed_curve25519"}},
		}).want(t, 200, "")
		if e2eePath(r.Body, "one_time_keys", string(alice.user), string(alice.device), "signed_curve25519:AAAAAQ", "key") != otk["key"] {
			t.Fatalf("claim: %s", r.Raw)
		}
		if e2eePath(r.Body, "one_time_keys", string(alice.user), "NOPE") != nil {
			t.Fatalf("claim for an unknown device: %s", r.Raw)
		}
		r = alice.do("GET", "/_matrix/client/v3/keys/changes?from=s"+strconv.FormatInt(start, 10)+"&to=s"+strconv.FormatInt(e.w.Pos(), 10), nil).want(t, 200, "")
		if list, _ := r.Body["changed"].([]any); len(list) == 0 || list[0] != string(alice.user) {
			t.Fatalf("changes: %s", r.Raw)
		}
	})
}

func crossSigningBody(user id.UserID) (map[string]any, ed25519.PrivateKey) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sp, _, _ := ed25519.GenerateKey(rand.Reader)
	mpub := e2eeB64(pub)
	master := map[string]any{"user_id": user, "usage": []string{"master"}, "keys": map[string]any{"ed25519:" + mpub: mpub}}
	self := e2eeSign(map[string]any{"user_id": user, "usage": []string{"self_signing"},
		"keys": map[string]any{"ed25519:" + e2eeB64(sp): e2eeB64(sp)}}, user, "ed25519:"+mpub, priv)
	return map[string]any{"master_key": master, "self_signing_key": self}, priv
}

func TestCrossSigningNeedsPasswordToReplace(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newE2EEEnv(t, db)
		alice := e.newClient("alice")
		const path = "/_matrix/client/v3/keys/device_signing/upload"
		first, _ := crossSigningBody(alice.user)
		alice.do("POST", path, first).want(t, 200, "")
		alice.do("POST", path, first).want(t, 200, "") // the same keys again

		second, _ := crossSigningBody(alice.user)
		r := alice.do("POST", path, second).want(t, 401, "")
		session := r.str("session")
		if session == "" || !strings.Contains(string(r.Raw), `"m.login.password"`) {
			t.Fatalf("challenge: %s", r.Raw)
		}
		second["auth"] = pwAuth("alice", "wrong", session)
		r = alice.do("POST", path, second).want(t, 401, "M_FORBIDDEN")
		second["auth"] = pwAuth("alice", "pw-alice", session)
		alice.do("POST", path, second).want(t, 200, "")

		r = alice.do("POST", "/_matrix/client/v3/keys/query", map[string]any{"device_keys": map[string]any{string(alice.user): []string{}}})
		wantKey := second["master_key"].(map[string]any)["keys"]
		if got := e2eePath(r.Body, "master_keys", string(alice.user), "keys"); got == nil || len(got.(map[string]any)) != 1 {
			t.Fatalf("master key after replacement: %s", r.Raw)
		}
		for k := range wantKey.(map[string]any) {
			if e2eePath(r.Body, "master_keys", string(alice.user), "keys", k) == nil {
				t.Fatalf("master key not replaced: %s", r.Raw)
			}
		}
	})
}

func TestKeysBadInput(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newE2EEEnv(t, db)
		alice, bob := e.newClient("alice"), e.newClient("bob")
		bobKeys := bob.deviceKeys()
		forged := alice.deviceKeys()
		forged["keys"].(map[string]any)["curve25519:"+string(alice.device)] = e2eeB64(make([]byte, 32))
		cases := []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"malformed JSON", "POST", "/_matrix/client/v3/keys/upload", `{"device_keys":`, 400, "M_NOT_JSON"},
			{"keys of another user", "POST", "/_matrix/client/v3/keys/upload", map[string]any{"device_keys": bobKeys}, 403, "M_FORBIDDEN"},
			{"signature over other data", "POST", "/_matrix/client/v3/keys/upload", map[string]any{"device_keys": forged}, 400, "M_INVALID_SIGNATURE"},
			{"one-time keys not a map", "POST", "/_matrix/client/v3/keys/upload", `{"one_time_keys":["x"]}`, 400, "M_BAD_JSON"},
			{"one-time key name", "POST", "/_matrix/client/v3/keys/upload", `{"one_time_keys":{"nocolon":"a2V5"}}`, 400, "M_INVALID_PARAM"},
			{"query without device_keys", "POST", "/_matrix/client/v3/keys/query", `{}`, 400, "M_MISSING_PARAM"},
			{"query of the wrong shape", "POST", "/_matrix/client/v3/keys/query", `{"device_keys":{"@a:example.org":"DEV"}}`, 400, "M_BAD_JSON"},
			{"claim without one_time_keys", "POST", "/_matrix/client/v3/keys/claim", `{}`, 400, "M_MISSING_PARAM"},
			{"claim for an invalid user", "POST", "/_matrix/client/v3/keys/claim", `{"one_time_keys":{"alice":{"D":"signed_curve25519"}}}`, 400, "M_INVALID_PARAM"},
			{"changes without from", "GET", "/_matrix/client/v3/keys/changes?to=s1", nil, 400, "M_MISSING_PARAM"},
			{"changes with a bad token", "GET", "/_matrix/client/v3/keys/changes?from=yesterday&to=s1", nil, 400, "M_INVALID_PARAM"},
			{"cross-signing key of the wrong shape", "POST", "/_matrix/client/v3/keys/device_signing/upload", `{"master_key":{"user_id":"@alice:example.org","usage":"master"}}`, 400, "M_BAD_JSON"},
			{"signatures not objects", "POST", "/_matrix/client/v3/keys/signatures/upload", `{"@alice:example.org":["x"]}`, 400, "M_BAD_JSON"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				alice.do(c.method, c.path, c.body).want(t, c.status, c.code)
			})
		}
		// A signature over the wrong data is a failure, not an error.
		r := alice.do("POST", "/_matrix/client/v3/keys/signatures/upload", map[string]any{
			string(alice.user): map[string]any{string(alice.device): forged},
		}).want(t, 200, "")
		if e2eePath(r.Body, "failures", string(alice.user), string(alice.device), "errcode") == nil {
			t.Fatalf("signature upload failures: %s", r.Raw)
		}
	})
}

// BenchmarkKeysQueryHTTP is POST /keys/query for 100 users with 3 devices
// each, through HTTP on SQLite (target: 20 ms).
func BenchmarkKeysQueryHTTP(b *testing.B) {
	e := newE2EEEnv(b, storagetest.NewSQLite(b))
	ctx := context.Background()
	query := map[string][]string{}
	var viewer *e2eeClient
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("user%03d", i)
		uid, err := e.acc.Register(ctx, accounts.RegisterParams{Localpart: name, Password: "pw-" + name})
		if err != nil {
			b.Fatal(err)
		}
		query[string(uid)] = []string{}
		for j := 0; j < 3; j++ {
			dev := id.DeviceID(fmt.Sprintf("DEV%d", j))
			if err := e.acc.EnsureDevice(ctx, uid, dev, "Phone"); err != nil {
				b.Fatal(err)
			}
			pub, priv, _ := ed25519.GenerateKey(rand.Reader)
			c := &e2eeClient{e: e, user: uid, device: dev, priv: priv, pub: e2eeB64(pub)}
			data, _ := json.Marshal(c.deviceKeys())
			if _, err := e.keys.Upload(ctx, uid, dev, keys.UploadRequest{DeviceKeys: data}); err != nil {
				b.Fatal(err)
			}
		}
	}
	viewer = e.newClient("user000")
	body, _ := json.Marshal(map[string]any{"device_keys": query})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := viewer.do("POST", "/_matrix/client/v3/keys/query", body)
		if r.Status != 200 || len(r.Raw) < 100*3*300 {
			b.Fatalf("%d %d bytes", r.Status, len(r.Raw))
		}
	}
}
