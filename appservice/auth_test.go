package appservice

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// Compile-time checks that the registry fills the seam accounts declares.
var _ accounts.AppServices = (*Registry)(nil)

func TestAuthenticateAppService(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		bridge := bridgeReg(t, "http://127.0.0.1:1")
		dp, err := registration.Parse("dp.yaml", []byte(doublePuppetFile))
		if err != nil {
			t.Fatal(err)
		}
		walled, err := registration.Parse("walled.yaml", []byte("id: walled\nas_token: walled_token\nhs_token: h\nsender_localpart: walled\nrate_limited: true\nip_range_whitelist: [10.0.0.0/8]\n"))
		if err != nil {
			t.Fatal(err)
		}
		acc := accounts.New(db, server, accounts.Options{BcryptCost: bcrypt.MinCost})
		reg := NewRegistry([]*registration.Registration{bridge, dp, walled}, server, acc)
		acc.SetAppServices(reg)
		for _, u := range []struct {
			local, as string
		}{{"bridge_a", "bridge"}, {"bridgebot", "bridge"}, {"alice", ""}} {
			p := accounts.RegisterParams{Localpart: u.local, AppServiceID: u.as}
			if u.as == "" {
				p.Password = "pw"
			}
			if _, err := acc.Register(ctx, p); err != nil {
				t.Fatalf("register %s: %v", u.local, err)
			}
		}
		if err := acc.EnsureDevice(ctx, ghost, "GHOSTDEV", "bridge device"); err != nil {
			t.Fatal(err)
		}

		cases := []struct {
			name, method, path, token, remote string
			wantUser                          id.UserID
			wantDevice                        id.DeviceID
			wantCode                          string
			rateLimited                       bool
		}{
			{"sender by default", "GET", "/_matrix/client/v3/account/whoami", bridge.ASToken, "", "@bridgebot:test.local", "", "", false},
			{"ghost", "GET", "/x?user_id=@bridge_a:test.local", bridge.ASToken, "", ghost, "", "", false},
			{"sender asserted", "GET", "/x?user_id=@bridgebot:test.local", bridge.ASToken, "", "@bridgebot:test.local", "", "", false},
			{"outside namespace", "GET", "/x?user_id=@alice:test.local", bridge.ASToken, "", "", "", "M_FORBIDDEN", false},
			{"unregistered ghost", "GET", "/x?user_id=@bridge_new:test.local", bridge.ASToken, "", "", "", "M_FORBIDDEN", false},
			{"unregistered ghost registers", "POST", "/_matrix/client/v3/register?user_id=@bridge_new:test.local", bridge.ASToken, "", "@bridge_new:test.local", "", "", false},
			{"r0 register too", "POST", "/_matrix/client/r0/register?user_id=@bridge_new:test.local", bridge.ASToken, "", "@bridge_new:test.local", "", "", false},
			{"device masquerading", "GET", "/x?user_id=@bridge_a:test.local&org.matrix.msc3202.device_id=GHOSTDEV", bridge.ASToken, "", ghost, "GHOSTDEV", "", false},
			{"stable device_id", "GET", "/x?user_id=@bridge_a:test.local&device_id=GHOSTDEV", bridge.ASToken, "", ghost, "GHOSTDEV", "", false},
			{"unknown device", "GET", "/x?user_id=@bridge_a:test.local&device_id=NOPE", bridge.ASToken, "", "", "", "M_UNKNOWN_DEVICE", false},
			{"someone else's device", "GET", "/x?device_id=GHOSTDEV", bridge.ASToken, "", "", "", "M_UNKNOWN_DEVICE", false},
			// The standard double-puppet registration acts as any local user.
			{"double puppet", "GET", "/x?user_id=@alice:test.local", dp.ASToken, "", alice, "", "", false},
			{"double puppet remote user", "GET", "/x?user_id=@alice:elsewhere.org", dp.ASToken, "", "", "", "M_FORBIDDEN", true},
			{"outside ip whitelist", "GET", "/x", "walled_token", "192.0.2.1:5", "", "", "M_UNKNOWN_TOKEN", true},
			{"inside ip whitelist", "GET", "/x", "walled_token", "10.1.2.3:5", "@walled:test.local", "", "", true},
		}
		for _, c := range cases {
			req := httptest.NewRequest(c.method, c.path, nil)
			if c.remote != "" {
				req.RemoteAddr = c.remote
			}
			caller, err := reg.AuthenticateAppService(req, c.token)
			if c.wantCode != "" {
				if e, ok := err.(*httpx.Error); !ok || e.ErrCode != c.wantCode || e.Status < 400 || e.Status >= 500 {
					t.Errorf("%s: got %+v, %v; want %s", c.name, caller, err, c.wantCode)
				}
				continue
			}
			if err != nil || caller == nil || caller.UserID != c.wantUser || caller.DeviceID != c.wantDevice ||
				caller.AppServiceID == "" || caller.RateLimited != c.rateLimited || caller.TokenID != "" {
				t.Errorf("%s: got %+v, %v; want %s %s", c.name, caller, err, c.wantUser, c.wantDevice)
			}
		}
		if c, err := reg.AuthenticateAppService(httptest.NewRequest("GET", "/x", nil), "not a token"); c != nil || err != nil {
			t.Fatalf("a user token must fall through to accounts: %+v %v", c, err)
		}

		// Through accounts.Authenticate, as every endpoint sees it.
		req := httptest.NewRequest(http.MethodGet, "/x?user_id=@alice:test.local", nil)
		req.Header.Set("Authorization", "Bearer "+bridge.ASToken)
		if _, err := acc.Authenticate(req); err == nil || err.(*httpx.Error).ErrCode != "M_FORBIDDEN" {
			t.Fatalf("accounts.Authenticate let the bridge act as alice: %v", err)
		}

		// Namespaces as accounts sees them.
		if reg.ExclusiveOwner("@bridge_z:test.local") != "bridge" || reg.ExclusiveOwner("@bridgebot:test.local") != "bridge" ||
			reg.ExclusiveOwner(alice) != "" {
			t.Fatal("ExclusiveOwner is wrong")
		}
		if !reg.InNamespace("doublepuppet", alice) || reg.InNamespace("bridge", alice) || !reg.InNamespace("bridge", "@bridgebot:test.local") {
			t.Fatal("InNamespace is wrong")
		}
		if reg.AliasExclusiveOwner("#bridge_room:test.local") != "bridge" || reg.AliasExclusiveOwner("#room:test.local") != "" {
			t.Fatal("AliasExclusiveOwner is wrong")
		}
		if _, err := acc.Register(ctx, accounts.RegisterParams{Localpart: "bridge_taken", Password: "pw"}); err == nil {
			t.Fatal("a user registered inside the bridge's exclusive namespace")
		}
	})
}

const doublePuppetFile = `id: doublepuppet
url:
as_token: dp_token
hs_token: dp_hs
sender_localpart: doublepuppet
rate_limited: false
namespaces:
  users:
  - regex: '@.*:test\.local'
    exclusive: false
`
