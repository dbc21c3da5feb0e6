package client

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestLogin(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newAcctEnv(t, db, openRegistration, AccountLimits{})
		e.register("alice", "secret")

		flows := e.do("GET", "/_matrix/client/v3/login", "", nil).want(t, 200, "")
		if !strings.Contains(string(flows.Raw), `{"type":"m.login.password"}`) {
			t.Fatalf("flows = %s", flows.Raw)
		}

		r := e.login("alice", "secret", "").want(t, 200, "")
		if r.str("user_id") != "@alice:example.org" || r.str("home_server") != "example.org" ||
			len(r.str("access_token")) < 43 || len(r.str("device_id")) != 10 {
			t.Fatalf("login = %s", r.Raw)
		}
		wk, _ := r.Body["well_known"].(map[string]any)
		hs, _ := wk["m.homeserver"].(map[string]any)
		if hs["base_url"] != "https://matrix.example.org/" {
			t.Fatalf("well_known = %v", r.Body["well_known"])
		}

		// The legacy "user" field and a full user ID in another case.
		legacy := e.do("POST", "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.password", "user": "@Alice:example.org", "password": "secret",
			"device_id": "MYPHONE", "initial_device_display_name": "Phone",
		}).want(t, 200, "")
		if legacy.str("device_id") != "MYPHONE" || legacy.str("user_id") != "@alice:example.org" {
			t.Fatalf("legacy login = %s", legacy.Raw)
		}
		// r0 paths are served too.
		who := e.do("GET", "/_matrix/client/r0/account/whoami", legacy.str("access_token"), nil).want(t, 200, "")
		if who.str("user_id") != "@alice:example.org" || who.str("device_id") != "MYPHONE" || who.Body["is_guest"] != false {
			t.Fatalf("whoami = %s", who.Raw)
		}

		e.login("alice", "wrong", "").want(t, 403, "M_FORBIDDEN")
		e.login("nobody", "secret", "").want(t, 403, "M_FORBIDDEN")
		e.login("@alice:other.org", "secret", "").want(t, 403, "M_FORBIDDEN")
		e.do("POST", "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.password", "identifier": map[string]any{"type": "m.id.thirdparty", "medium": "email", "address": "a@b.c"}, "password": "x",
		}).want(t, 403, "M_FORBIDDEN")
		e.do("POST", "/_matrix/client/v3/login", "", map[string]any{"identifier": map[string]any{"type": "m.id.user", "user": "alice"}}).
			want(t, 400, "M_MISSING_PARAM")
		e.do("POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.sso", "user": "alice"}).want(t, 400, "M_UNKNOWN")
		e.do("POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "user": "alice"}).want(t, 400, "M_MISSING_PARAM")
	})
}

func TestLogoutInvalidatesToken(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newAcctEnv(t, db, openRegistration, AccountLimits{})
		e.register("alice", "secret")
		a := e.mustLogin("alice", "secret", "A")
		b := e.mustLogin("alice", "secret", "B")
		c := e.mustLogin("alice", "secret", "C")

		e.do("GET", "/_matrix/client/v3/account/whoami", a, nil).want(t, 200, "")
		e.do("POST", "/_matrix/client/v3/logout", a, nil).want(t, 200, "")
		e.do("GET", "/_matrix/client/v3/account/whoami", a, nil).want(t, 401, "M_UNKNOWN_TOKEN")
		devs := e.do("GET", "/_matrix/client/v3/devices", b, nil).want(t, 200, "")
		if n := len(devs.Body["devices"].([]any)); n != 2 {
			t.Fatalf("%d devices after logout, want 2: %s", n, devs.Raw)
		}
		e.do("POST", "/_matrix/client/v3/logout/all", b, nil).want(t, 200, "")
		e.do("GET", "/_matrix/client/v3/account/whoami", b, nil).want(t, 401, "M_UNKNOWN_TOKEN")
		e.do("GET", "/_matrix/client/v3/account/whoami", c, nil).want(t, 401, "M_UNKNOWN_TOKEN")
		e.do("GET", "/_matrix/client/v3/account/whoami", "", nil).want(t, 401, "M_MISSING_TOKEN")
		e.do("GET", "/_matrix/client/v3/account/whoami?access_token="+c, "", nil).want(t, 401, "M_UNKNOWN_TOKEN")

		// Logging in again with a known device ID replaces its token.
		first := e.mustLogin("alice", "secret", "SAME")
		second := e.mustLogin("alice", "secret", "SAME")
		e.do("GET", "/_matrix/client/v3/account/whoami", first, nil).want(t, 401, "M_UNKNOWN_TOKEN")
		e.do("GET", "/_matrix/client/v3/account/whoami", second, nil).want(t, 200, "")
	})
}

func TestTokensNotStoredRaw(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newAcctEnv(t, db, openRegistration, AccountLimits{})
		e.register("alice", "secret")
		tok := e.mustLogin("alice", "secret", "")
		// Search every text column of the account tables for the token.
		for _, q := range []string{
			`SELECT token_hash || user_id || device_id FROM access_tokens`,
			`SELECT user_id || device_id || COALESCE(display_name, '') || COALESCE(user_agent, '') FROM devices`,
			`SELECT user_id || COALESCE(password_hash, '') || COALESCE(displayname, '') FROM users`,
		} {
			rows, err := db.Query(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(s, tok) {
					t.Fatalf("raw access token found in database: %q", s)
				}
			}
			rows.Close()
		}
	})
}

func TestDeactivatedUserCannotLogIn(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newAcctEnv(t, db, openRegistration, AccountLimits{})
		e.register("alice", "secret")
		tok := e.mustLogin("alice", "secret", "")
		r := e.do("POST", "/_matrix/client/v3/account/deactivate", tok, map[string]any{}).want(t, 401, "")
		e.do("POST", "/_matrix/client/v3/account/deactivate", tok, map[string]any{
			"auth": pwAuth("alice", "secret", r.str("session")), "erase": false,
		}).want(t, 200, "")
		e.do("GET", "/_matrix/client/v3/account/whoami", tok, nil).want(t, 401, "M_UNKNOWN_TOKEN")
		e.login("alice", "secret", "").want(t, 403, "M_USER_DEACTIVATED")
		e.do("GET", "/_matrix/client/v3/register/available?username=alice", "", nil).want(t, 400, "M_USER_IN_USE")
	})
}
