package client

import (
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// acctBridges is a one-appservice registry: "bridge" with token
// "as_token" owns @bridge_* exclusively. The appservice package provides
// the real registry; this one only exercises the seam.
type acctBridges struct{}

func (acctBridges) AuthenticateAppService(r *http.Request, token string) (*httpx.Caller, error) {
	if token != "as_token" {
		return nil, nil
	}
	user := id.UserID(r.URL.Query().Get("user_id"))
	if user == "" {
		user = "@bridge_bot:example.org"
	}
	return &httpx.Caller{UserID: user, AppServiceID: "bridge"}, nil
}

func (acctBridges) ExclusiveOwner(u id.UserID) string {
	if strings.HasPrefix(string(u), "@bridge_") {
		return "bridge"
	}
	return ""
}

func (b acctBridges) InNamespace(as string, u id.UserID) bool {
	return as == "bridge" && b.ExclusiveOwner(u) == "bridge"
}

func TestAppServiceRegistrationAndLogin(t *testing.T) {
	e := newAcctEnv(t, storagetest.NewSQLite(t), AccountsConfig{}, AccountLimits{})
	e.acc.SetAppServices(acctBridges{})

	// Registration is closed, but not to the appservice, and no UIA applies.
	r := e.do("POST", "/_matrix/client/v3/register", "as_token", map[string]any{
		"type": "m.login.application_service", "username": "bridge_alice",
	}).want(t, 200, "")
	if r.str("user_id") != "@bridge_alice:example.org" || r.str("access_token") == "" {
		t.Fatalf("appservice register = %s", r.Raw)
	}
	e.do("POST", "/_matrix/client/v3/register", "as_token", map[string]any{
		"auth": map[string]any{"type": "m.login.application_service"}, "username": "bridge_bob", "inhibit_login": true,
	}).want(t, 200, "")
	e.do("POST", "/_matrix/client/v3/register", "as_token", map[string]any{
		"type": "m.login.application_service", "username": "alice",
	}).want(t, 400, "M_EXCLUSIVE")
	e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
		"type": "m.login.application_service", "username": "bridge_carol",
	}).want(t, 401, "M_MISSING_TOKEN")

	// Others cannot take the namespace, even with registration open.
	open := newAcctEnv(t, storagetest.NewSQLite(t), openRegistration, AccountLimits{})
	open.acc.SetAppServices(acctBridges{})
	open.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "bridge_x", "password": "pw"}).want(t, 400, "M_EXCLUSIVE")
	open.do("GET", "/_matrix/client/v3/register/available?username=bridge_x", "", nil).want(t, 400, "M_EXCLUSIVE")

	login := e.do("POST", "/_matrix/client/v3/login", "as_token", map[string]any{
		"type": "m.login.application_service", "identifier": map[string]string{"type": "m.id.user", "user": "bridge_bob"},
	}).want(t, 200, "")
	if login.str("user_id") != "@bridge_bob:example.org" {
		t.Fatalf("appservice login = %s", login.Raw)
	}
	e.do("POST", "/_matrix/client/v3/login", "as_token", map[string]any{
		"type": "m.login.application_service", "identifier": map[string]string{"type": "m.id.user", "user": "bridge_nobody"},
	}).want(t, 403, "M_FORBIDDEN")
	e.do("POST", "/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.application_service", "user": "bridge_bob",
	}).want(t, 401, "M_MISSING_TOKEN")

	// MSC4190: the appservice creates and deletes devices without UIA.
	e.do("PUT", "/_matrix/client/v3/devices/BRIDGEDEV?user_id=@bridge_bob:example.org", "as_token", map[string]any{"display_name": "Bridge"}).
		want(t, 200, "")
	d := e.do("GET", "/_matrix/client/v3/devices/BRIDGEDEV", login.str("access_token"), nil).want(t, 200, "")
	if d.str("display_name") != "Bridge" {
		t.Fatalf("device = %s", d.Raw)
	}
	e.do("DELETE", "/_matrix/client/v3/devices/BRIDGEDEV?user_id=@bridge_bob:example.org", "as_token", nil).want(t, 200, "")
	e.do("GET", "/_matrix/client/v3/devices/BRIDGEDEV", login.str("access_token"), nil).want(t, 404, "M_NOT_FOUND")
	e.do("PUT", "/_matrix/client/v3/devices/X?user_id=@bridge_ghost:example.org", "as_token", map[string]any{}).want(t, 403, "M_FORBIDDEN")
}
