package client

import (
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestKeyBackupEndpoints(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newE2EEEnv(t, db)
		alice := e.newClient("alice")
		const base = "/_matrix/client/v3/room_keys"
		alice.do("GET", base+"/version", nil).want(t, 404, "M_NOT_FOUND")
		v := alice.do("POST", base+"/version", map[string]any{
			"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": map[string]any{"public_key": "pk"},
		}).want(t, 200, "").str("version")
		session := map[string]any{"first_message_index": 0, "forwarded_count": 0, "is_verified": true,
			"session_data": map[string]any{"ephemeral": "e", "ciphertext": "c", "mac": "m"}}
		r := alice.do("PUT", base+"/keys/%21room%3Aexample.org/sess1?version="+v, session).want(t, 200, "")
		if r.Body["count"] != 1.0 || r.str("etag") == "" {
			t.Fatalf("put: %s", r.Raw)
		}
		r = alice.do("PUT", base+"/keys?version="+v, map[string]any{"rooms": map[string]any{
			"!room:example.org": map[string]any{"sessions": map[string]any{"sess2": session}}}}).want(t, 200, "")
		if r.Body["count"] != 2.0 {
			t.Fatalf("put all: %s", r.Raw)
		}
		r = alice.do("GET", base+"/version", nil).want(t, 200, "")
		if r.str("version") != v || r.Body["count"] != 2.0 || r.str("algorithm") == "" || e2eePath(r.Body, "auth_data", "public_key") != "pk" {
			t.Fatalf("version: %s", r.Raw)
		}
		r = alice.do("GET", base+"/keys/%21room%3Aexample.org?version="+v, nil).want(t, 200, "")
		if e2eePath(r.Body, "sessions", "sess1", "session_data", "ciphertext") != "c" {
			t.Fatalf("room keys: %s", r.Raw)
		}
		alice.do("GET", base+"/keys/%21room%3Aexample.org/nope?version="+v, nil).want(t, 404, "M_NOT_FOUND")

		v2 := alice.do("POST", base+"/version", map[string]any{
			"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": map[string]any{},
		}).want(t, 200, "").str("version")
		r = alice.do("PUT", base+"/keys/%21room%3Aexample.org/sess1?version="+v, session).want(t, 403, "M_WRONG_ROOM_KEYS_VERSION")
		if r.str("current_version") != v2 {
			t.Fatalf("wrong version: %s", r.Raw)
		}
		alice.do("PUT", base+"/keys/%21room%3Aexample.org/sess1", session).want(t, 400, "M_MISSING_PARAM")
		alice.do("PUT", base+"/keys/%21room%3Aexample.org/sess1?version="+v2, `{"first_message_index":0}`).want(t, 400, "M_MISSING_PARAM")
		alice.do("PUT", base+"/keys/%21room%3Aexample.org?version="+v2, `{"sessions":[]}`).want(t, 400, "M_BAD_JSON")
		alice.do("PUT", base+"/version/"+v2, map[string]any{"algorithm": "other", "auth_data": map[string]any{}}).want(t, 400, "M_INVALID_PARAM")
		alice.do("DELETE", base+"/version/"+v2, nil).want(t, 200, "")
		alice.do("DELETE", base+"/version/"+v2, nil).want(t, 200, "")
		alice.do("GET", base+"/version/"+v2, nil).want(t, 404, "M_NOT_FOUND")
		r = alice.do("DELETE", base+"/keys?version="+v, nil).want(t, 200, "")
		if r.Body["count"] != 0.0 {
			t.Fatalf("delete all: %s", r.Raw)
		}
	})
}
