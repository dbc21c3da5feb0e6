package client

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestRegisterUIA(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newAcctEnv(t, db, openRegistration, AccountLimits{})
		first := e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": "alice", "password": "secret", "initial_device_display_name": "Web",
		}).want(t, 401, "")
		sess := first.str("session")
		if sess == "" || first.Body["error"] != nil || !strings.Contains(string(first.Raw), `"flows":[{"stages":["m.login.dummy"]}]`) ||
			!strings.Contains(string(first.Raw), `"params":{}`) {
			t.Fatalf("challenge = %s", first.Raw)
		}
		// The second request may leave out username and password: the
		// session remembers them.
		done := e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
			"auth": map[string]any{"type": "m.login.dummy", "session": sess}, "initial_device_display_name": "Web",
		}).want(t, 200, "")
		if done.str("user_id") != "@alice:example.org" || done.str("access_token") == "" || done.str("device_id") == "" {
			t.Fatalf("register = %s", done.Raw)
		}
		who := e.do("GET", "/_matrix/client/v3/account/whoami", done.str("access_token"), nil).want(t, 200, "")
		if who.str("user_id") != "@alice:example.org" {
			t.Fatalf("whoami = %s", who.Raw)
		}
		e.login("alice", "secret", "").want(t, 200, "")
		// The session is used up.
		e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": "alice2", "password": "x", "auth": map[string]any{"type": "m.login.dummy", "session": sess},
		}).want(t, 400, "M_UNKNOWN")

		e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "alice", "password": "x"}).want(t, 400, "M_USER_IN_USE")
		e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "Bad Name", "password": "x"}).want(t, 400, "M_INVALID_USERNAME")
		e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": "dev", "password": "x", "device_id": strings.Repeat("D", 300), "auth": map[string]any{"type": "m.login.dummy"},
		}).want(t, 400, "M_INVALID_PARAM")
		e.do("GET", "/_matrix/client/v3/register/available?username=dev", "", nil).want(t, 200, "")
		e.do("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{}).want(t, 403, "M_GUEST_ACCESS_FORBIDDEN")

		// One request with the dummy stage, inhibit_login: no token.
		inh := e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": "bob", "password": "pw", "inhibit_login": true, "auth": map[string]any{"type": "m.login.dummy"},
		}).want(t, 200, "")
		if inh.str("user_id") != "@bob:example.org" || inh.Body["access_token"] != nil || inh.Body["device_id"] != nil {
			t.Fatalf("inhibit_login = %s", inh.Raw)
		}
		// No username: a numeric one is picked.
		anon := e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
			"password": "pw", "auth": map[string]any{"type": "m.login.dummy"},
		}).want(t, 200, "")
		if lp := strings.TrimSuffix(strings.TrimPrefix(anon.str("user_id"), "@"), ":example.org"); lp == "" || strings.Trim(lp, "0123456789") != "" {
			t.Fatalf("generated user ID %s", anon.str("user_id"))
		}
		// A stage not offered fails the attempt inside the 401.
		bad := e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": "carol", "password": "pw", "auth": map[string]any{"type": "m.login.recaptcha"},
		}).want(t, 401, "M_UNRECOGNIZED")
		if bad.str("session") == "" || bad.Body["flows"] == nil {
			t.Fatalf("failed stage body = %s", bad.Raw)
		}

		avail := e.do("GET", "/_matrix/client/v3/register/available?username=carol", "", nil).want(t, 200, "")
		if avail.Body["available"] != true {
			t.Fatalf("available = %s", avail.Raw)
		}
		e.do("GET", "/_matrix/client/v3/register/available?username=bob", "", nil).want(t, 400, "M_USER_IN_USE")
		e.do("GET", "/_matrix/client/v3/register/available?username=B%20B", "", nil).want(t, 400, "M_INVALID_USERNAME")
		e.do("GET", "/_matrix/client/v3/register/available", "", nil).want(t, 400, "M_MISSING_PARAM")
	})
}

func TestRegistrationDisabled(t *testing.T) {
	e := newAcctEnv(t, storagetest.NewSQLite(t), AccountsConfig{}, AccountLimits{})
	e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "a", "password": "b"}).want(t, 403, "M_FORBIDDEN")
	e.do("GET", "/_matrix/client/v3/register/available?username=a", "", nil).want(t, 403, "M_FORBIDDEN")
	e.do("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=x", "", nil).want(t, 403, "M_FORBIDDEN")
}

func TestRegisterWithToken(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		cfg := openRegistration
		cfg.RegistrationRequiresToken = true
		e := newAcctEnv(t, db, cfg, AccountLimits{})
		one := int64(1)
		if _, err := e.acc.CreateRegistrationToken(context.Background(), accounts.RegistrationToken{Token: "letmein", UsesAllowed: &one}); err != nil {
			t.Fatal(err)
		}
		validity := "/_matrix/client/v1/register/m.login.registration_token/validity?token="
		if r := e.do("GET", validity+"letmein", "", nil).want(t, 200, ""); r.Body["valid"] != true {
			t.Fatalf("validity = %s", r.Raw)
		}
		if r := e.do("GET", validity+"nope", "", nil).want(t, 200, ""); r.Body["valid"] != false {
			t.Fatalf("validity = %s", r.Raw)
		}

		ch := e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "alice", "password": "pw"}).want(t, 401, "")
		if !strings.Contains(string(ch.Raw), `"stages":["m.login.registration_token"]`) {
			t.Fatalf("flows = %s", ch.Raw)
		}
		// The dummy stage is not enough here.
		e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
			"auth": map[string]any{"type": "m.login.dummy", "session": ch.str("session")},
		}).want(t, 401, "M_UNRECOGNIZED")
		wrong := e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
			"auth": map[string]any{"type": "m.login.registration_token", "token": "nope", "session": ch.str("session")},
		}).want(t, 401, "M_UNAUTHORIZED")
		if wrong.str("session") != ch.str("session") {
			t.Fatalf("session changed: %s", wrong.Raw)
		}
		e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
			"auth": map[string]any{"type": "m.login.registration_token", "token": "letmein", "session": ch.str("session")},
		}).want(t, 200, "")
		if r := e.do("GET", validity+"letmein", "", nil).want(t, 200, ""); r.Body["valid"] != false {
			t.Fatalf("spent token still valid: %s", r.Raw)
		}
		e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": "bob", "password": "pw", "auth": map[string]any{"type": "m.login.registration_token", "token": "letmein"},
		}).want(t, 401, "M_UNAUTHORIZED")
	})
}
