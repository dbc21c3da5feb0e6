package client

import (
	"strings"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestDeviceManagement(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newAcctEnv(t, db, openRegistration, AccountLimits{})
		e.register("alice", "secret")
		e.register("bob", "bobpw")
		a := e.mustLogin("alice", "secret", "AAA")
		b := e.mustLogin("alice", "secret", "BBB")
		bob := e.mustLogin("bob", "bobpw", "BOB")

		d := e.do("GET", "/_matrix/client/v3/devices/AAA", a, nil).want(t, 200, "")
		if d.str("device_id") != "AAA" || d.str("last_seen_ip") != "127.0.0.1" || d.Body["last_seen_ts"] == nil {
			t.Fatalf("device = %s", d.Raw)
		}
		e.do("GET", "/_matrix/client/v3/devices/BOB", a, nil).want(t, 404, "M_NOT_FOUND")
		e.do("PUT", "/_matrix/client/v3/devices/BBB", a, map[string]any{"display_name": "Laptop"}).want(t, 200, "")
		if d := e.do("GET", "/_matrix/client/v3/devices/BBB", a, nil); d.str("display_name") != "Laptop" {
			t.Fatalf("renamed = %s", d.Raw)
		}
		e.do("PUT", "/_matrix/client/v3/devices/NOPE", a, map[string]any{"display_name": "x"}).want(t, 404, "M_NOT_FOUND")
		e.do("PUT", "/_matrix/client/v3/devices/BBB", a, map[string]any{"display_name": 7}).want(t, 400, "M_BAD_JSON")

		// DELETE needs the password: first a challenge...
		ch := e.do("DELETE", "/_matrix/client/v3/devices/BBB", a, nil).want(t, 401, "")
		if !strings.Contains(string(ch.Raw), `"flows":[{"stages":["m.login.password"]}]`) {
			t.Fatalf("challenge = %s", ch.Raw)
		}
		sess := ch.str("session")
		// ...a wrong password fails inside the 401...
		wrong := e.do("DELETE", "/_matrix/client/v3/devices/BBB", a, map[string]any{"auth": pwAuth("alice", "nope", sess)}).
			want(t, 401, "M_FORBIDDEN")
		if wrong.str("session") != sess {
			t.Fatalf("wrong password body = %s", wrong.Raw)
		}
		// ...another user's password does not count...
		e.do("DELETE", "/_matrix/client/v3/devices/BBB", a, map[string]any{"auth": pwAuth("bob", "bobpw", sess)}).
			want(t, 401, "M_FORBIDDEN")
		// ...nor may another user finish this session...
		e.do("DELETE", "/_matrix/client/v3/devices/BBB", bob, map[string]any{"auth": pwAuth("bob", "bobpw", sess)}).
			want(t, 403, "M_FORBIDDEN")
		// ...nor may the session authorise another endpoint.
		e.do("POST", "/_matrix/client/v3/delete_devices", a, map[string]any{"devices": []string{"BBB"}, "auth": pwAuth("alice", "secret", sess)}).
			want(t, 403, "M_FORBIDDEN")
		e.do("DELETE", "/_matrix/client/v3/devices/BBB", a, map[string]any{"auth": pwAuth("alice", "secret", sess)}).want(t, 200, "")
		e.do("GET", "/_matrix/client/v3/account/whoami", b, nil).want(t, 401, "M_UNKNOWN_TOKEN")
		e.do("GET", "/_matrix/client/v3/devices/BBB", a, nil).want(t, 404, "M_NOT_FOUND")
		// The completed session cannot be replayed.
		e.mustLogin("alice", "secret", "BBB")
		e.do("DELETE", "/_matrix/client/v3/devices/BBB", a, map[string]any{"auth": map[string]any{"type": "m.login.password", "session": sess}}).
			want(t, 400, "M_UNKNOWN")

		// delete_devices in one request, without a session.
		e.mustLogin("alice", "secret", "CCC")
		e.do("POST", "/_matrix/client/v3/delete_devices", a, map[string]any{
			"devices": []string{"BBB", "CCC"}, "auth": pwAuth("alice", "secret", ""),
		}).want(t, 200, "")
		list := e.do("GET", "/_matrix/client/v3/devices", a, nil).want(t, 200, "")
		devs := list.Body["devices"].([]any)
		if len(devs) != 1 || devs[0].(map[string]any)["device_id"] != "AAA" {
			t.Fatalf("devices = %s", list.Raw)
		}
		e.do("POST", "/_matrix/client/v3/delete_devices", a, map[string]any{}).want(t, 400, "M_MISSING_PARAM")
		e.do("DELETE", "/_matrix/client/v3/devices/AAA", a, "{oops").want(t, 400, "M_NOT_JSON")
	})
}

func TestChangePassword(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newAcctEnv(t, db, openRegistration, AccountLimits{})
		e.register("alice", "old")
		keep := e.mustLogin("alice", "old", "KEEP")
		other := e.mustLogin("alice", "old", "OTHER")
		ch := e.do("POST", "/_matrix/client/v3/account/password", keep, map[string]any{"new_password": "new"}).want(t, 401, "")
		e.do("POST", "/_matrix/client/v3/account/password", keep, map[string]any{
			"auth": pwAuth("alice", "old", ch.str("session")),
		}).want(t, 200, "")
		e.login("alice", "old", "").want(t, 403, "M_FORBIDDEN")
		e.login("alice", "new", "").want(t, 200, "")
		e.do("GET", "/_matrix/client/v3/account/whoami", other, nil).want(t, 401, "M_UNKNOWN_TOKEN")
		e.do("GET", "/_matrix/client/v3/account/whoami", keep, nil).want(t, 200, "")

		// logout_devices: false keeps other sessions.
		third := e.mustLogin("alice", "new", "THIRD")
		e.do("POST", "/_matrix/client/v3/account/password", keep, map[string]any{
			"new_password": "newer", "logout_devices": false, "auth": pwAuth("alice", "new", ""),
		}).want(t, 200, "")
		e.do("GET", "/_matrix/client/v3/account/whoami", third, nil).want(t, 200, "")
		e.do("POST", "/_matrix/client/v3/account/password", keep, map[string]any{
			"auth": pwAuth("alice", "newer", ""),
		}).want(t, 400, "M_MISSING_PARAM")
		e.do("POST", "/_matrix/client/v3/account/password", keep, map[string]any{"new_password": true}).want(t, 400, "M_BAD_JSON")
	})
}
