package admin

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// register creates an account through shared-secret registration and
// returns its access token.
func (e *env) register(name string, admin bool) string {
	e.t.Helper()
	res, err := RegisterWithSharedSecret(context.Background(), http.DefaultClient, e.srv.URL, "s3cret",
		SharedSecretRequest{Username: name, Password: "pw", Admin: admin})
	if err != nil {
		e.t.Fatalf("register %s: %v", name, err)
	}
	return res.AccessToken
}

// login logs in with a password over the client API and returns the
// status and access token.
func (e *env) login(user, password string) (int, string) {
	e.t.Helper()
	status, body := e.do("POST", "/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": user}, "password": password,
	})
	tok, _ := body["access_token"].(string)
	return status, tok
}

// whoami reports the status of a request made with tok.
func (e *env) whoami(tok string) int {
	e.t.Helper()
	status, _ := e.do("GET", "/_synapse/admin/v1/server_version", tok, nil)
	return status
}

func TestAdminModifyUsers(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, "s3cret")
		root := e.register("root", true)
		alice := e.register("alice", false)

		status, body := e.do("GET", "/_synapse/admin/v1/server_version", root, nil)
		if status != 200 || body["server_version"] != "9.9.9" {
			t.Fatalf("server_version: %d %v", status, body)
		}
		// Every new endpoint refuses non-admins.
		for _, c := range []struct{ method, path string }{
			{"GET", "/_synapse/admin/v1/server_version"},
			{"PUT", "/_synapse/admin/v2/users/@bob:example.org"},
			{"POST", "/_synapse/admin/v1/reset_password/@alice:example.org"},
			{"POST", "/_synapse/admin/v1/deactivate/@alice:example.org"},
			{"GET", "/_synapse/admin/v1/users/@alice:example.org/joined_rooms"},
			{"GET", "/_synapse/admin/v2/users/@alice:example.org/devices"},
			{"DELETE", "/_synapse/admin/v2/users/@alice:example.org/devices/X"},
		} {
			if status, body := e.do(c.method, c.path, alice, map[string]any{}); status != 403 || body["errcode"] != "M_FORBIDDEN" {
				t.Fatalf("non-admin %s %s: %d %v", c.method, c.path, status, body)
			}
		}

		// Create: 201, the user as GET shows it, and the password works.
		status, body = e.do("PUT", "/_synapse/admin/v2/users/@bob:example.org", root, map[string]any{
			"password": "bobpw", "displayname": "Bob B", "avatar_url": "mxc://example.org/abc", "admin": false,
		})
		if status != 201 || body["name"] != "@bob:example.org" || body["displayname"] != "Bob B" ||
			body["avatar_url"] != "mxc://example.org/abc" || body["admin"] != false || body["deactivated"] != false {
			t.Fatalf("create: %d %v", status, body)
		}
		status, bob := e.login("bob", "bobpw")
		if status != 200 || bob == "" {
			t.Fatalf("login as created user: %d", status)
		}
		if status, _ := e.login("bob", "wrong"); status != 403 {
			t.Fatalf("wrong password: %d", status)
		}
		// Modify: 200, admin granted, display name changed.
		status, body = e.do("PUT", "/_synapse/admin/v2/users/@bob:example.org", root, map[string]any{"displayname": "Robert", "admin": true})
		if status != 200 || body["displayname"] != "Robert" || body["admin"] != true {
			t.Fatalf("modify: %d %v", status, body)
		}
		if e.whoami(bob) != 200 {
			t.Fatal("bob's token does not carry his new admin right")
		}

		// Devices: bob's login is listed, and deleting it ends the session.
		status, body = e.do("GET", "/_synapse/admin/v2/users/@bob:example.org/devices", root, nil)
		devices, _ := body["devices"].([]any)
		if status != 200 || len(devices) != 1 || body["total"] != float64(1) {
			t.Fatalf("devices: %d %v", status, body)
		}
		dev := devices[0].(map[string]any)
		if dev["user_id"] != "@bob:example.org" || dev["device_id"] == "" {
			t.Fatalf("device: %v", dev)
		}
		if status, _ := e.do("DELETE", "/_synapse/admin/v2/users/@bob:example.org/devices/"+dev["device_id"].(string), root, nil); status != 200 {
			t.Fatalf("delete device: %d", status)
		}
		if e.whoami(bob) != 401 {
			t.Fatal("token of a deleted device still works")
		}

		// reset_password: the old password fails, the new one works, old tokens die.
		_, aliceTok2 := e.login("alice", "pw")
		status, _ = e.do("POST", "/_synapse/admin/v1/reset_password/@alice:example.org", root, map[string]any{"new_password": "newpw"})
		if status != 200 {
			t.Fatalf("reset_password: %d", status)
		}
		if status, _ := e.login("alice", "pw"); status != 403 {
			t.Fatalf("old password after reset: %d", status)
		}
		if status, _ := e.login("alice", "newpw"); status != 200 {
			t.Fatalf("new password after reset: %d", status)
		}
		if status, _ := e.do("GET", "/_matrix/client/v3/account/whoami", aliceTok2, nil); status != 401 {
			t.Fatalf("old token after reset: %d", status)
		}
		// With logout_devices false the sessions stay.
		_, aliceTok3 := e.login("alice", "newpw")
		e.do("POST", "/_synapse/admin/v1/reset_password/@alice:example.org", root, map[string]any{"new_password": "third", "logout_devices": false})
		if status, _ := e.do("GET", "/_matrix/client/v3/account/whoami", aliceTok3, nil); status != 200 {
			t.Fatalf("token after reset without logout: %d", status)
		}

		// Deactivation: the user can no longer log in, and GET shows it.
		status, body = e.do("POST", "/_synapse/admin/v1/deactivate/@alice:example.org", root, map[string]any{"erase": false})
		if status != 200 || body["id_server_unbind_result"] != "success" {
			t.Fatalf("deactivate: %d %v", status, body)
		}
		if status, body := e.login("alice", "third"); status != 403 || body != "" {
			t.Fatalf("login after deactivation: %d", status)
		}
		if _, body := e.do("GET", "/_synapse/admin/v2/users/@alice:example.org", root, nil); body["deactivated"] != true {
			t.Fatalf("deactivated user: %v", body)
		}
		// Reactivation needs a password; then login works again.
		if status, _ := e.do("PUT", "/_synapse/admin/v2/users/@alice:example.org", root, map[string]any{"deactivated": false}); status != 400 {
			t.Fatalf("reactivate without password: %d", status)
		}
		status, body = e.do("PUT", "/_synapse/admin/v2/users/@alice:example.org", root, map[string]any{"deactivated": false, "password": "back"})
		if status != 200 || body["deactivated"] != false {
			t.Fatalf("reactivate: %d %v", status, body)
		}
		if status, _ := e.login("alice", "back"); status != 200 {
			t.Fatalf("login after reactivation: %d", status)
		}
		// Deactivating through PUT works too.
		if _, body := e.do("PUT", "/_synapse/admin/v2/users/@alice:example.org", root, map[string]any{"deactivated": true}); body["deactivated"] != true {
			t.Fatalf("PUT deactivated: %v", body)
		}
		if status, _ := e.login("alice", "back"); status != 403 {
			t.Fatalf("login after PUT deactivation: %d", status)
		}
	})
}

func TestAdminUsersBadInput(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, "s3cret")
		root := e.register("root", true)
		for _, c := range []struct {
			method, path string
			body         any
			status       int
			errcode      string
		}{
			{"POST", "/_synapse/admin/v1/reset_password/@nobody:example.org", map[string]any{"new_password": "x"}, 404, "M_NOT_FOUND"},
			{"POST", "/_synapse/admin/v1/deactivate/@nobody:example.org", nil, 404, "M_NOT_FOUND"},
			{"GET", "/_synapse/admin/v2/users/@nobody:example.org/devices", nil, 404, "M_NOT_FOUND"},
			{"DELETE", "/_synapse/admin/v2/users/@nobody:example.org/devices/X", nil, 404, "M_NOT_FOUND"},
			{"GET", "/_synapse/admin/v1/users/@nobody:example.org/joined_rooms", nil, 404, "M_NOT_FOUND"},
			{"GET", "/_synapse/admin/v2/users/nobody", nil, 400, "M_INVALID_PARAM"},
			{"PUT", "/_synapse/admin/v2/users/not-an-id", map[string]any{"password": "x"}, 400, "M_INVALID_PARAM"},
			{"POST", "/_synapse/admin/v1/reset_password/@:example.org", map[string]any{"new_password": "x"}, 400, "M_INVALID_PARAM"},
			{"PUT", "/_synapse/admin/v2/users/@eve:other.org", map[string]any{"password": "x"}, 400, ""},
			{"POST", "/_synapse/admin/v1/deactivate/@eve:other.org", nil, 400, ""},
			{"PUT", "/_synapse/admin/v2/users/@eve:example.org", "{", 400, "M_NOT_JSON"},
			{"PUT", "/_synapse/admin/v2/users/@eve:example.org", map[string]any{"admin": "yes"}, 400, "M_BAD_JSON"},
			{"PUT", "/_synapse/admin/v2/users/@Eve:example.org", map[string]any{"password": "x"}, 400, "M_INVALID_USERNAME"},
			{"POST", "/_synapse/admin/v1/reset_password/@root:example.org", "[]", 400, "M_BAD_JSON"},
			{"POST", "/_synapse/admin/v1/reset_password/@root:example.org", map[string]any{}, 400, "M_MISSING_PARAM"},
			{"PUT", "/_synapse/admin/v2/users/@root:example.org", map[string]any{"admin": false}, 400, ""},
		} {
			status, body := e.do(c.method, c.path, root, c.body)
			if status != c.status || (c.errcode != "" && body["errcode"] != c.errcode) {
				t.Errorf("%s %s %v: %d %v", c.method, c.path, c.body, status, body)
			}
		}
		// A user created without a password exists but cannot log in.
		status, body := e.do("PUT", "/_synapse/admin/v2/users/@sso:example.org", root, map[string]any{})
		if status != 201 || body["displayname"] != "sso" {
			t.Fatalf("create without password: %d %v", status, body)
		}
		if status, _ := e.login("sso", ""); status == 200 {
			t.Fatal("passwordless account logged in")
		}
	})
}
