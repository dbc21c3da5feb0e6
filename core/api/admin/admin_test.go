package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/client"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/relations"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// env is a real server over one database: accounts, rooms and reports
// with the admin API and the client endpoints the tests act through
// (login, rooms, reports).
type env struct {
	t   *testing.T
	db  *storage.DB
	acc *accounts.Service
	rs  *rooms.Service
	srv *httptest.Server
}

func newEnv(t *testing.T, db *storage.DB, secret string) *env {
	ctx := context.Background()
	key, err := events.LoadOrCreateSigningKey(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := stream.NewWriter(ctx, db, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	acc := accounts.New(db, "example.org", accounts.Options{BcryptCost: bcrypt.MinCost})
	rs := rooms.New(db, w, profiles{acc}, rooms.Options{ServerName: "example.org", Key: key}, zerolog.Nop())
	acc.OnDeactivate(func(ctx context.Context, u id.UserID) { rs.LeaveAll(ctx, u) })
	rel := relations.New(db, rs)
	rt := httpx.NewRouter(acc, zerolog.Nop())
	RegisterAdmin(rt, acc, Options{SharedSecret: secret, ServerVersion: "9.9.9", Rooms: rs, Reports: rel})
	client.RegisterAccounts(rt, acc, client.AccountsConfig{}, client.AccountLimits{})
	client.RegisterRooms(rt, rs)
	client.RegisterReports(rt, rel)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, acc: acc, rs: rs, srv: srv}
}

// profiles adapts accounts to rooms.Profiles.
type profiles struct{ acc *accounts.Service }

func (p profiles) UserExists(ctx context.Context, u id.UserID) (bool, error) {
	return p.acc.UserExists(ctx, u)
}

func (p profiles) Profile(ctx context.Context, u id.UserID) (string, string, error) {
	pr, err := p.acc.Profile(ctx, u)
	if errors.Is(err, storage.ErrNotFound) {
		return "", "", nil
	}
	return pr.DisplayName, pr.AvatarURL, err
}

func (e *env) do(method, path, token string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("non-JSON %q", raw)
	}
	return resp.StatusCode, out
}

func (e *env) nonce() string {
	e.t.Helper()
	status, body := e.do("GET", "/_synapse/admin/v1/register", "", nil)
	n, _ := body["nonce"].(string)
	if status != 200 || len(n) < 16 {
		e.t.Fatalf("nonce: %d %v", status, body)
	}
	return n
}

// TestSharedSecretMACVector pins the MAC to values computed with Python's
// hmac module the way Synapse's register_new_matrix_user does.
func TestSharedSecretMACVector(t *testing.T) {
	if got := SharedSecretMAC("shh", "abcnonce", "alice", "pass word", true, ""); got != "fd40b6fd46fe927ae1857435cbc3c99e6330d467" {
		t.Errorf("admin MAC = %s", got)
	}
	if got := SharedSecretMAC("shh", "n2", "bob", "pw", false, "bot"); got != "28f1d563d28105a9e95b4a7b2d66d1e6f42d02d0" {
		t.Errorf("user_type MAC = %s", got)
	}
}

func TestSharedSecretRegistration(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, "s3cret")
		n := e.nonce()
		status, body := e.do("POST", "/_synapse/admin/v1/register", "", map[string]any{
			"nonce": n, "username": "Admin", "password": "pw", "admin": true, "displayname": "The Admin",
			"mac": SharedSecretMAC("s3cret", n, "Admin", "pw", true, ""),
		})
		if status != 200 || body["user_id"] != "@admin:example.org" || body["access_token"] == "" || body["home_server"] != "example.org" {
			t.Fatalf("register: %d %v", status, body)
		}
		u, err := e.acc.GetUser(context.Background(), "@admin:example.org")
		if err != nil || !u.IsAdmin || u.DisplayName != "The Admin" {
			t.Fatalf("user = %+v %v", u, err)
		}
		// The nonce was used up.
		status, body = e.do("POST", "/_synapse/admin/v1/register", "", map[string]any{
			"nonce": n, "username": "b", "password": "pw", "mac": SharedSecretMAC("s3cret", n, "b", "pw", false, ""),
		})
		if status != 400 || body["error"] != "unrecognised nonce" {
			t.Fatalf("reused nonce: %d %v", status, body)
		}
		// A MAC made with the wrong secret, or over other fields, fails.
		for _, mac := range []func(nonce string) string{
			func(n string) string { return SharedSecretMAC("wrong", n, "eve", "pw", false, "") },
			func(n string) string { return SharedSecretMAC("s3cret", n, "eve", "pw", true, "") },
			func(n string) string { return SharedSecretMAC("s3cret", n, "eve", "other", false, "") },
			func(string) string { return "not hex" },
		} {
			n := e.nonce()
			status, body = e.do("POST", "/_synapse/admin/v1/register", "", map[string]any{
				"nonce": n, "username": "eve", "password": "pw", "admin": false, "mac": mac(n),
			})
			if status != 403 || body["errcode"] != "M_FORBIDDEN" {
				t.Fatalf("bad MAC: %d %v", status, body)
			}
		}
		if ok, _ := e.acc.UserExists(context.Background(), "@eve:example.org"); ok {
			t.Fatal("user created with a wrong MAC")
		}
		n = e.nonce()
		status, body = e.do("POST", "/_synapse/admin/v1/register", "", map[string]any{
			"nonce": n, "username": "admin", "password": "pw", "mac": SharedSecretMAC("s3cret", n, "admin", "pw", false, ""),
		})
		if status != 400 || body["errcode"] != "M_USER_IN_USE" {
			t.Fatalf("taken name: %d %v", status, body)
		}
		// Synapse's register_new_matrix_user sends "user_type": null.
		n = e.nonce()
		status, body = e.do("POST", "/_synapse/admin/v1/register", "", map[string]any{
			"nonce": n, "username": "script", "password": "pw", "admin": false, "user_type": nil,
			"mac": SharedSecretMAC("s3cret", n, "script", "pw", false, ""),
		})
		if status != 200 || body["user_id"] != "@script:example.org" {
			t.Fatalf("script-style request: %d %v", status, body)
		}
		status, body = e.do("POST", "/_synapse/admin/v1/register", "", "{")
		if status != 400 || body["errcode"] != "M_NOT_JSON" {
			t.Fatalf("bad JSON: %d %v", status, body)
		}
	})
}

func TestSharedSecretDisabled(t *testing.T) {
	e := newEnv(t, storagetest.NewSQLite(t), "")
	if status, _ := e.do("GET", "/_synapse/admin/v1/register", "", nil); status != 400 {
		t.Fatalf("nonce without secret: %d", status)
	}
	if status, _ := e.do("POST", "/_synapse/admin/v1/register", "", map[string]any{"nonce": "x"}); status != 400 {
		t.Fatalf("register without secret: %d", status)
	}
}

func TestRegisterWithSharedSecretClient(t *testing.T) {
	e := newEnv(t, storagetest.NewSQLite(t), "s3cret")
	ctx := context.Background()
	res, err := RegisterWithSharedSecret(ctx, http.DefaultClient, e.srv.URL+"/", "s3cret", SharedSecretRequest{Username: "carol", Password: "pw"})
	if err != nil || res.UserID != "@carol:example.org" || res.AccessToken == "" {
		t.Fatalf("client register: %+v %v", res, err)
	}
	_, err = RegisterWithSharedSecret(ctx, http.DefaultClient, e.srv.URL, "wrong", SharedSecretRequest{Username: "dan", Password: "pw"})
	var re *RemoteError
	if !errors.As(err, &re) || re.Status != 403 || re.ErrCode != "M_FORBIDDEN" {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestAdminUsers(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, "s3cret")
		ctx := context.Background()
		admin, err := RegisterWithSharedSecret(ctx, http.DefaultClient, e.srv.URL, "s3cret", SharedSecretRequest{Username: "root", Password: "pw", Admin: true})
		if err != nil {
			t.Fatal(err)
		}
		user, err := RegisterWithSharedSecret(ctx, http.DefaultClient, e.srv.URL, "s3cret", SharedSecretRequest{Username: "alice", Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		status, body := e.do("GET", "/_synapse/admin/v2/users/@alice:example.org", admin.AccessToken, nil)
		if status != 200 || body["name"] != "@alice:example.org" || body["admin"] != false || body["deactivated"] != false ||
			body["displayname"] != "alice" || body["creation_ts"].(float64) < 1e9 || body["creation_ts"].(float64) > 1e11 {
			t.Fatalf("get user: %d %v", status, body)
		}
		if status, body := e.do("GET", "/_synapse/admin/v2/users/@alice:example.org", user.AccessToken, nil); status != 403 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("non-admin: %d %v", status, body)
		}
		if status, _ := e.do("GET", "/_synapse/admin/v2/users/@nobody:example.org", admin.AccessToken, nil); status != 404 {
			t.Fatalf("unknown user: %d", status)
		}
		if status, _ := e.do("GET", "/_synapse/admin/v2/users/@alice:other.org", admin.AccessToken, nil); status != 400 {
			t.Fatalf("remote user: %d", status)
		}
		status, body = e.do("GET", "/_synapse/admin/v2/users?limit=1", admin.AccessToken, nil)
		users, _ := body["users"].([]any)
		if status != 200 || body["total"] != float64(2) || len(users) != 1 || body["next_token"] != "1" ||
			users[0].(map[string]any)["name"] != "@alice:example.org" {
			t.Fatalf("list: %d %v", status, body)
		}
		status, body = e.do("GET", "/_synapse/admin/v2/users?from=1&limit=10", admin.AccessToken, nil)
		users, _ = body["users"].([]any)
		if status != 200 || len(users) != 1 || body["next_token"] != nil {
			t.Fatalf("second page: %d %v", status, body)
		}
		if status, _ := e.do("GET", "/_synapse/admin/v2/users?limit=x", admin.AccessToken, nil); status != 400 {
			t.Fatalf("bad limit: %d", status)
		}
		if status, _ := e.do("GET", "/_synapse/admin/v2/users", "", nil); status != 401 {
			t.Fatalf("no token: %d", status)
		}
	})
}

func TestAdminRegistrationTokens(t *testing.T) {
	e := newEnv(t, storagetest.NewSQLite(t), "s3cret")
	ctx := context.Background()
	admin, err := RegisterWithSharedSecret(ctx, http.DefaultClient, e.srv.URL, "s3cret", SharedSecretRequest{Username: "root", Password: "pw", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	status, body := e.do("POST", "/_synapse/admin/v1/registration_tokens/new", admin.AccessToken, map[string]any{"token": "abc", "uses_allowed": 2})
	if status != 200 || body["token"] != "abc" || body["uses_allowed"] != float64(2) || body["expiry_time"] != nil {
		t.Fatalf("new: %d %v", status, body)
	}
	status, body = e.do("GET", "/_synapse/admin/v1/registration_tokens/abc", admin.AccessToken, nil)
	if status != 200 || body["completed"] != float64(0) {
		t.Fatalf("get: %d %v", status, body)
	}
	status, body = e.do("GET", "/_synapse/admin/v1/registration_tokens", admin.AccessToken, nil)
	if list, _ := body["registration_tokens"].([]any); status != 200 || len(list) != 1 {
		t.Fatalf("list: %d %v", status, body)
	}
	if status, _ := e.do("DELETE", "/_synapse/admin/v1/registration_tokens/abc", admin.AccessToken, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	if status, _ := e.do("GET", "/_synapse/admin/v1/registration_tokens/abc", admin.AccessToken, nil); status != 404 {
		t.Fatalf("get deleted: %d", status)
	}
}
