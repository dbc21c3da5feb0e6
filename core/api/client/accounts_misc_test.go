package client

import (
	"errors"
	"strconv"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/ratelimit"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestAccountsBadJSON(t *testing.T) {
	e := newAcctEnv(t, storagetest.NewSQLite(t), openRegistration, AccountLimits{})
	e.register("alice", "secret")
	tok := e.mustLogin("alice", "secret", "")
	cases := []struct {
		method, path, token, body, errcode string
	}{
		{"POST", "/_matrix/client/v3/login", "", `{"type": "m.login.password",`, "M_NOT_JSON"},
		{"POST", "/_matrix/client/v3/login", "", `[1,2]`, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/login", "", `{"type": 5}`, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/login", "", `{"type": "m.login.password", "identifier": "alice"}`, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/login", "", `{"type": "m.login.password", "user": "alice", "password": ["x"]}`, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/register", "", `not json`, "M_NOT_JSON"},
		{"POST", "/_matrix/client/v3/register", "", `{"username": 12}`, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/register", "", `{"auth": "dummy"}`, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/register", "", `{"inhibit_login": "yes"}`, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/account/deactivate", tok, `{"auth": {"type": 1}}`, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/delete_devices", tok, `{"devices": "AAA"}`, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/user_directory/search", tok, `{"search_term": "a", "limit": "ten"}`, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/user_directory/search", tok, `{"search_term": `, "M_NOT_JSON"},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, c.token, c.body)
		if r.Status != 400 || r.str("errcode") != c.errcode {
			t.Errorf("%s %s %s: got %d %s, want 400 %s", c.method, c.path, c.body, r.Status, r.Raw, c.errcode)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	db := storagetest.NewSQLite(t)
	limits := AccountLimits{
		LoginAddress: ratelimit.New(config.RateLimit{PerSecond: 0.001, BurstCount: 3}, ratelimit.Options{}),
	}
	e := newAcctEnv(t, db, openRegistration, limits)
	e.register("alice", "secret")
	for i := 0; i < 3; i++ {
		e.login("alice", "wrong", "").want(t, 403, "M_FORBIDDEN")
	}
	r := e.login("alice", "secret", "").want(t, 429, "M_LIMIT_EXCEEDED")
	ms, ok := r.Body["retry_after_ms"].(float64)
	if !ok || ms < 1000 {
		t.Fatalf("retry_after_ms = %v in %s", r.Body["retry_after_ms"], r.Raw)
	}
	if s, _ := strconv.Atoi(r.Header.Get("Retry-After")); s < 1 {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
}

func TestFailedLoginRateLimit(t *testing.T) {
	db := storagetest.NewSQLite(t)
	limits := AccountLimits{
		LoginFailed:  ratelimit.New(config.RateLimit{PerSecond: 0.001, BurstCount: 2}, ratelimit.Options{}),
		LoginAccount: ratelimit.New(config.RateLimit{PerSecond: 0.001, BurstCount: 2}, ratelimit.Options{}),
	}
	e := newAcctEnv(t, db, openRegistration, limits)
	e.register("alice", "secret")
	e.register("bob", "secret")
	e.login("alice", "wrong", "").want(t, 403, "M_FORBIDDEN")
	e.login("alice", "wrong", "").want(t, 403, "M_FORBIDDEN")
	// Even the right password is refused while failures are throttled.
	e.login("alice", "secret", "").want(t, 429, "M_LIMIT_EXCEEDED")
	// Other accounts are unaffected; successful logins count per account.
	e.login("bob", "secret", "").want(t, 200, "")
	e.login("bob", "secret", "").want(t, 200, "")
	e.login("bob", "secret", "").want(t, 429, "M_LIMIT_EXCEEDED")
}

func TestRegistrationRateLimit(t *testing.T) {
	limits := AccountLimits{Registration: ratelimit.New(config.RateLimit{PerSecond: 0.001, BurstCount: 1}, ratelimit.Options{})}
	e := newAcctEnv(t, storagetest.NewSQLite(t), openRegistration, limits)
	// The challenge round trip does not use up the one registration allowed.
	e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "a", "password": "pw"}).want(t, 401, "")
	e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
		"username": "a", "password": "pw", "auth": map[string]any{"type": "m.login.dummy"},
	}).want(t, 200, "")
	e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "b", "password": "pw"}).want(t, 429, "M_LIMIT_EXCEEDED")
}

func TestUserDirectorySearch(t *testing.T) {
	e := newAcctEnv(t, storagetest.NewSQLite(t), openRegistration, AccountLimits{})
	e.register("alice", "pw")
	e.register("alicia", "pw")
	e.register("bob", "pw")
	tok := e.mustLogin("bob", "pw", "")
	r := e.do("POST", "/_matrix/client/v3/user_directory/search", tok, map[string]any{"search_term": "ALI", "limit": 1}).want(t, 200, "")
	res := r.Body["results"].([]any)
	if len(res) != 1 || r.Body["limited"] != true || res[0].(map[string]any)["user_id"] != "@alice:example.org" ||
		res[0].(map[string]any)["display_name"] != "alice" {
		t.Fatalf("search = %s", r.Raw)
	}
	r = e.do("POST", "/_matrix/client/v3/user_directory/search", tok, map[string]any{"search_term": "zzz"}).want(t, 200, "")
	if string(r.Raw) != `{"limited":false,"results":[]}` {
		t.Fatalf("empty search = %s", r.Raw)
	}
	e.do("POST", "/_matrix/client/v3/user_directory/search", tok, map[string]any{}).want(t, 400, "M_MISSING_PARAM")
	e.do("POST", "/_matrix/client/v3/user_directory/search", "", map[string]any{"search_term": "a"}).want(t, 401, "M_MISSING_TOKEN")
}

func TestThreePIDEndpoints(t *testing.T) {
	e := newAcctEnv(t, storagetest.NewSQLite(t), openRegistration, AccountLimits{})
	e.register("alice", "pw")
	tok := e.mustLogin("alice", "pw", "")
	if r := e.do("GET", "/_matrix/client/v3/account/3pid", tok, nil).want(t, 200, ""); string(r.Raw) != `{"threepids":[]}` {
		t.Fatalf("3pids = %s", r.Raw)
	}
	e.do("POST", "/_matrix/client/v3/account/3pid/email/requestToken", "", map[string]any{"email": "a@b.c", "client_secret": "s", "send_attempt": 1}).
		want(t, 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
	e.do("POST", "/_matrix/client/v3/register/msisdn/requestToken", "", map[string]any{}).want(t, 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
	e.do("POST", "/_matrix/client/v3/account/3pid/add", tok, map[string]any{"sid": "x", "client_secret": "y"}).want(t, 400, "M_THREEPID_AUTH_FAILED")
	if r := e.do("POST", "/_matrix/client/v3/account/3pid/delete", tok, map[string]any{"medium": "email", "address": "a@b.c"}).want(t, 200, ""); r.str("id_server_unbind_result") != "no-support" {
		t.Fatalf("delete = %s", r.Raw)
	}
}

// FuzzParseLogin checks that any body yields a request or a Matrix error.
func FuzzParseLogin(f *testing.F) {
	for _, s := range []string{
		`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"x"}`,
		`{"type":"m.login.password","user":"@a:b","password":"x","device_id":"D"}`,
		`{"type":1}`, `[]`, `{`, ``, `null`, `{"identifier":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseLogin(body)
		checkParse(t, req != nil, err)
	})
}

// FuzzParseRegister does the same for /register bodies.
func FuzzParseRegister(f *testing.F) {
	for _, s := range []string{
		`{"username":"a","password":"b","auth":{"type":"m.login.dummy","session":"s"}}`,
		`{"type":"m.login.application_service","username":"bridge_a"}`,
		`{"auth":null}`, `{"auth":[]}`, `{"auth":"x"}`, `{"inhibit_login":1}`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _, err := parseRegister(body)
		checkParse(t, req != nil, err)
	})
}

func checkParse(t *testing.T, ok bool, err error) {
	t.Helper()
	if err == nil {
		if !ok {
			t.Fatal("nil request without an error")
		}
		return
	}
	var me *httpx.Error
	if !errors.As(err, &me) || me.Status != 400 {
		t.Fatalf("error %v is not a 400 Matrix error", err)
	}
}
